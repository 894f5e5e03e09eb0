"""Drive headless Chromium (tests/js/browser.js) from tests."""
import os
from typing import Dict, Optional

import pytest

from . import REPO_ROOT
from .node import node_available, run_json

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DRIVER = os.path.join(REPO_ROOT, "tests", "js", "browser.js")
# Time for Chromium to start and shut down, on top of the pages' own timeout.
_LAUNCH_ALLOWANCE = 30


def browser_available():
    """True when Node, node_modules and Chromium are all installed."""
    return node_available() and os.access(CHROMIUM, os.X_OK)


# In CI a missing browser is a broken setup: run (and fail) rather than skip.
requires_browser = pytest.mark.skipif(
    not browser_available() and not os.environ.get("CI"),
    reason=f"needs node, node_modules (npm ci) and {CHROMIUM}; scripts/test.sh installs them",
)


def run_pages(url: str, pages: int = 1, timeout: float = 30, *,
              form: Optional[Dict[str, str]] = None, submit: Optional[str] = None) -> dict:
    """Open `url` in `pages` concurrent Chromium pages until each sets window.__done.

    Page i gets ``page=<i>`` in its query string. With ``submit`` (a CSS selector), `url`
    is a form page (a login page): each page fills the fields named in ``form`` and clicks
    ``submit``, then waits for window.__done on the page the form leads to (its URL in
    ``landed``). Returns the driver's report:
    ``{"pages": [{"result", "done", "console", "errors"}, ...], "timedOut": bool}``
    where ``result`` is each page's ``window.__result``. Blocks only this greenlet.
    """
    cmd = ["node", DRIVER, url, "--timeout", str(int(timeout * 1000)), "--pages", str(pages)]
    for name, value in (form or {}).items():
        cmd += ["--fill", "%s=%s" % (name, value)]
    if submit is not None:
        cmd += ["--submit", submit]
    return run_json(cmd, timeout + _LAUNCH_ALLOWANCE)
