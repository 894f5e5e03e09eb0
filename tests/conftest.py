from gevent import monkey; monkey.patch_all()  # noqa: E702 -- must run before anything else

# Shared fixtures for geventio's tests.
# ruff: noqa: E402  -- the imports follow the monkey patching on purpose
import os

import pytest

from helpers import REPO_ROOT
from helpers.browser import requires_browser
from helpers.cluster import NodeCluster, cluster_peers_available
from helpers.redis import REDIS_SERVER, RedisServer, redis_available, unique_key


def pytest_collection_modifyitems(config, items):
    """Tests marked `browser` skip (outside CI) when Node, node_modules or Chromium is missing."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(requires_browser)


@pytest.fixture(scope="session")
def repo_root():
    """Absolute path of the repository checkout."""
    return REPO_ROOT


# --- a private Redis (tests/helpers/redis.py) ------------------------------------------------
@pytest.fixture(scope="session")
def redis_server():
    """A redis-server of the suite's own on a free 127.0.0.1 port (no persistence), shared by
    the session: use a fresh ``redis_key`` per test. Do not kill it: use ``private_redis``."""
    if not redis_available() and not os.environ.get("CI"):
        pytest.skip(f"needs {REDIS_SERVER} (Debian's redis-server); scripts/test.sh installs it")
    with RedisServer() as server:
        yield server


@pytest.fixture
def private_redis():
    """A redis-server for this test alone: ``.kill()``, ``.stop()``, ``.start()`` (same port),
    ``.restart()``, ``.url``, ``.pid``. Stopped (by PID) after the test."""
    if not redis_available() and not os.environ.get("CI"):
        pytest.skip(f"needs {REDIS_SERVER} (Debian's redis-server); scripts/test.sh installs it")
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_key():
    """A cluster ``key`` (channel prefix) unique to this test, e.g. ``geventio-test-3f2a9c...``."""
    return unique_key()


@pytest.fixture
def node_cluster():
    """Starts node socket.io 4.8 cluster members (``.server(url, key, name=..., namespaces=...,
    server_events=...)``) and node redis-emitters (``.emitter(url, key)``) for this test;
    all stopped after it (tests/helpers/cluster.py)."""
    if not cluster_peers_available() and not os.environ.get("CI"):
        pytest.skip("needs node and node_modules (npm ci); scripts/test.sh installs them")
    cluster = NodeCluster()
    yield cluster
    cluster.close()
