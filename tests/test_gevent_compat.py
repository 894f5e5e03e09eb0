"""The gevent private names geventio relies on are checked at import, with a clear message."""
from __future__ import annotations

import gevent
import pytest

from geventio import _gevent_compat as compat


class _Owner:
    present = 1


def test_the_installed_gevent_has_every_private_name_geventio_uses():
    assert compat.missing() == []


def test_a_missing_private_name_is_named_in_the_error_with_the_tested_versions():
    required = ((_Owner, "present", "kept"), (_Owner, "_gone", "what it was for"))
    with pytest.raises(compat.GeventCompatError) as info:
        compat.check(required)
    message = str(info.value)
    assert "_Owner._gone (what it was for)" in message
    assert "present" not in message
    assert gevent.__version__ in message
    assert "%s to %s" % compat.TESTED_GEVENT in message


def test_the_error_is_an_import_error_so_importing_geventio_fails_loudly():
    assert issubclass(compat.GeventCompatError, ImportError)


def test_importing_geventio_runs_the_check_and_names_what_is_missing():
    import subprocess
    import sys
    code = ("import gevent.pywsgi\n"
            "del gevent.pywsgi.Input._discard\n"
            "import geventio\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "GeventCompatError" in proc.stderr
    assert "Input._discard" in proc.stderr


def test_setup_py_allows_exactly_the_tested_gevent_range():
    import pathlib
    setup = (pathlib.Path(__file__).parent.parent / "setup.py").read_text()
    low, high = compat.TESTED_GEVENT
    assert '"gevent>=%s,<%d"' % (low, int(high.split(".")[0]) + 1) in setup
