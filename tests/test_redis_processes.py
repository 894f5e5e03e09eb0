"""A geventio cluster across real processes: a geventio-serve child process and a server in
the test process share one private Redis; broadcasts, acks and requests cross between them.
And the adapter refuses to run where redis-py would block the event loop."""
import os
import subprocess
import sys

import gevent.event
import pytest

import geventio
from helpers import REPO_ROOT
from helpers.process import free_port, geventio_serve, running
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient

pytestmark = pytest.mark.slow

APP = os.path.join(REPO_ROOT, "tests", "apps", "cluster_member.py") + ":application"


class Local(geventio.SocketConnection):
    def on_message(self, message):
        pass


@pytest.fixture
def two_processes(redis_server, redis_key):
    port = free_port()
    env = dict(os.environ, GEVENTIO_REDIS_URL=redis_server.url, GEVENTIO_REDIS_KEY=redis_key,
               PYTHONPATH=REPO_ROOT)
    cmd = geventio_serve() + [APP, "--host", "127.0.0.1", "--port", str(port),
                              "--no-flash-policy", "--log-level", "warning"]
    adapter = geventio.RedisAdapter(redis_server.url, key=redis_key)
    router = geventio.get_router(Local, adapter=adapter)
    assert adapter.wait_subscribed(5)
    with running(cmd, port, env=env) as (child, child_base, _):
        with serve(make_application([router.route()])) as base:
            deadline = gevent.Timeout(10)
            with deadline:
                while router.server_count() < 2:
                    gevent.sleep(0.05)
            yield router, base, child_base, child
    router.close()


def test_500_broadcasts_of_another_process_arrive_in_order(two_processes):
    router, base, child_base, _ = two_processes
    with SioClient(base) as here, SioClient(child_base) as there:
        there.emit("burst", 500)
        got = here.wait_for("n", 500, timeout=30)
        assert [e[1] for e in got] == list(range(500))
        assert [e[1] for e in there.wait_for("n", 500, timeout=30)] == list(range(500))


def test_a_broadcast_of_this_process_reaches_the_other_process(two_processes):
    router, base, child_base, child = two_processes
    with SioClient(child_base) as there:
        router.emit("bin", b"\x00\xff", [1, "two"])
        assert there.wait_for("bin") == [["bin", b"\x00\xff", [1, "two"]]], child.output()


def test_call_in_another_process_gathers_acks_from_this_one(two_processes):
    router, base, child_base, _ = two_processes
    with SioClient(base, ack="here") as here, SioClient(child_base, ack="there") as there:
        [answers] = there.call("call", "q?")
        assert sorted(answers) == ["here", "there"]
        assert here.named("q?") == there.named("q?") == [["q?"]]


def test_fetch_and_server_side_emit_reach_the_other_process(two_processes):
    router, base, child_base, child = two_processes
    with SioClient(child_base) as there:
        [remote] = [c for c in router.fetch_connections() if c.session_id == there.sid]
        assert remote.data == {"pid": child.pid}
        answers = gevent.event.AsyncResult()
        router.server_side_emit("whoami", callback=answers.set)
        assert answers.get(timeout=5) == ["geventio:%d" % child.pid]


UNPATCHED = r"""
import sys
import geventio
class C(geventio.SocketConnection):
    pass
try:
    geventio.get_router(C, adapter=geventio.RedisAdapter(sys.argv[1]))
except RuntimeError as exc:
    print("refused:", exc)
"""


def test_without_monkey_patching_the_adapter_refuses_with_a_clear_error(redis_server):
    out = subprocess.run([sys.executable, "-c", UNPATCHED, redis_server.url], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert "refused:" in out.stdout and "monkey" in out.stdout, (out.stdout, out.stderr)


def test_importing_geventio_needs_neither_redis_nor_msgpack():
    code = ("import sys; sys.modules['redis'] = None; sys.modules['msgpack'] = None\n"
            "import geventio; print(geventio.RedisAdapter.__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert out.stdout.strip() == "RedisAdapter", out.stderr
