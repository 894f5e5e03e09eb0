from gevent import monkey; monkey.patch_all()  # noqa: E702 -- must run before anything else

# Shared fixtures for geventio's tests.
import pytest

from helpers import REPO_ROOT
from helpers.browser import requires_browser


def pytest_collection_modifyitems(config, items):
    """Tests marked `browser` skip (outside CI) when Node, node_modules or Chromium is missing."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(requires_browser)


@pytest.fixture(scope="session")
def repo_root():
    """Absolute path of the repository checkout."""
    return REPO_ROOT
