"""Connection state recovery across processes with RedisStreamsAdapter, and its wire.

A geventio-serve child (tests/apps/recovery_member.py) and a router in the test process share
one private Redis stream; socket.io-client 4.8 (tests/js/modern/recovery.js) drops from one
and comes back to the other. A node socket.io 4.8 server on @socket.io/redis-streams-adapter
(tests/js/cluster/streams_server.js) shares the same stream for the interop tests.
"""
import contextlib
import json
import logging
import os
import uuid

import gevent
import gevent.event
import pytest
from gevent import subprocess

import geventio
from apps import recovery_member
from helpers import NODE_MODULES, REPO_ROOT
from helpers.node import node_available, run_node
from helpers.process import free_port, geventio_serve, running
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient

STREAMS_ADAPTER = os.path.join(NODE_MODULES, "@socket.io", "redis-streams-adapter")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not node_available() or not os.path.isdir(STREAMS_ADAPTER),
                                 reason="needs node and node_modules (npm ci: "
                                        "@socket.io/redis-streams-adapter)")]

SCRIPT = os.path.join(REPO_ROOT, "tests", "js", "modern", "recovery.js")
APP = os.path.join(REPO_ROOT, "tests", "apps", "recovery_member.py") + ":application"
NODE_SERVER = os.path.join(REPO_ROOT, "tests", "js", "cluster", "streams_server.js")


def streams_adapter(url, stream):
    return geventio.RedisStreamsAdapter(url, stream_name=stream, channel_prefix=stream,
                                        session_key_prefix=stream + ":session:")


@pytest.fixture
def stream():
    return "csr-" + uuid.uuid4().hex[:12]


@contextlib.contextmanager
def local_member(url, stream):
    """A recovery_member router in this process on the stream; yields (router, base)."""
    adapter = streams_adapter(url, stream)
    router = recovery_member.make_router(adapter)
    assert adapter.wait_ready(5)
    try:
        with serve(make_application([router.route()])) as base:
            yield router, base
    finally:
        router.close()


@contextlib.contextmanager
def child_member(url, stream):
    """recovery_member.py in a geventio-serve child process; yields its base URL."""
    port = free_port()
    env = dict(os.environ, GEVENTIO_REDIS_URL=url, GEVENTIO_STREAM=stream,
               PYTHONPATH=REPO_ROOT)
    cmd = geventio_serve() + [APP, "--host", "127.0.0.1", "--port", str(port),
                              "--no-flash-policy", "--log-level", "warning"]
    with running(cmd, port, env=env) as (child, base, _):
        yield base, child


@contextlib.contextmanager
def node_member(url, stream):
    """streams_server.js; yields its base URL."""
    config = json.dumps({"redisUrl": url, "stream": stream})
    proc = subprocess.Popen(["node", NODE_SERVER, config], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(20, AssertionError("streams_server.js was not ready")):
            ready = json.loads(proc.stdout.readline())
        yield "http://127.0.0.1:%d" % ready["port"]
    finally:
        proc.kill()
        proc.wait()


def wait_servers(router, n):
    with gevent.Timeout(10, AssertionError("fewer than %d servers" % n)):
        while router.server_count() < n:
            gevent.sleep(0.05)


def move(first, second, drop="engine-close"):
    report = run_node(SCRIPT, first, "websocket", drop, second, timeout=40)
    assert "error" not in report, report
    return report


def assert_recovered(report):
    sid = report["sidBefore"]
    assert report["connects"] == [{"id": sid, "recovered": False},
                                  {"id": sid, "recovered": True}]
    names = [[e[0], e[1]] for e in report["seen"][1:]]
    assert names == [["missed", 1], ["missed", 2], ["missed-all", 3], ["missed", 5],
                     ["after", 6]]
    offsets = [e[-1] for e in report["seen"]]
    assert all(isinstance(o, str) and "-" in o for o in offsets)
    assert report["server"][0] == [sid, sorted([sid, "room1"]), {"name": "ada"}, True]


def test_a_client_moving_between_geventio_processes_is_recovered(redis_server, stream):
    with local_member(redis_server.url, stream) as (router, base), \
            child_member(redis_server.url, stream) as (child_base, child):
        wait_servers(router, 2)
        assert_recovered(move(child_base, base))


def test_a_client_moving_from_node_to_geventio_is_recovered(redis_server, stream):
    with local_member(redis_server.url, stream) as (router, base), \
            node_member(redis_server.url, stream) as node_base:
        wait_servers(router, 2)
        assert_recovered(move(node_base, base))


def test_a_client_moving_from_geventio_to_node_is_recovered(redis_server, stream):
    with local_member(redis_server.url, stream) as (router, base), \
            node_member(redis_server.url, stream) as node_base:
        wait_servers(router, 2)
        assert_recovered(move(base, node_base))


def test_a_client_whose_offset_was_trimmed_connects_as_new_with_a_log_line(
        redis_server, stream, caplog):
    with local_member(redis_server.url, stream) as (router, base):
        client = redis_server.client()
        with caplog.at_level(logging.INFO, logger="geventio.adapters.redis_streams"):
            trim = gevent.spawn_later(0.8, client.xtrim, stream, maxlen=0)
            report = run_node(SCRIPT, base, "websocket", "wait", timeout=40)
            trim.get()
        first, second = report["connects"]
        assert second["recovered"] is False and second["id"] != first["id"]
        assert "no longer in stream" in caplog.text


def test_stream_entries_and_session_keys_are_node_s(redis_server, stream):
    with local_member(redis_server.url, stream) as (router, base):
        client = redis_server.client()
        router.emit("hello", 1, to="room1")
        [(entry_id, fields)] = client.xrange(stream)
        assert fields[b"nsp"] == b"/" and fields[b"type"] == b"3"
        assert len(fields[b"uid"]) == 16
        assert json.loads(fields[b"data"]) == {
            "packet": {"type": 2, "data": ["hello", 1]},
            "opts": {"rooms": ["room1"], "except": [], "flags": {}}}
        router.emit("bin", b"\x09\x08")
        (_, last), = client.xrange(stream, "(" + entry_id.decode(), "+")
        assert not last[b"data"].startswith(b"{")  # base64 msgpack: it holds binary
        with SioClient(base) as sio_client:
            sio_client.call("setup", "ada")
            sio_client.close()
            with gevent.Timeout(5):
                while not client.keys(stream + ":session:*"):
                    gevent.sleep(0.05)
        [key] = client.keys(stream + ":session:*")
        assert 0 < client.pttl(key) <= 30_000


def test_the_cluster_api_works_between_geventio_processes_on_the_stream(redis_server,
                                                                        stream):
    with local_member(redis_server.url, stream) as (router, base), \
            child_member(redis_server.url, stream) as (child_base, child):
        wait_servers(router, 2)
        with SioClient(child_base, ack="pong") as there:
            there.call("setup", "bob")
            [remote] = [c for c in router.fetch_connections() if c.session_id == there.sid]
            assert remote.data == {"name": "bob"} and "room1" in remote.rooms
            assert "room1" in router.all_rooms()
            router.join("room9", to=there.sid)
            with gevent.Timeout(5):
                while "room9" not in [r for c in router.fetch_connections()
                                      if c.session_id == there.sid for r in c.rooms]:
                    gevent.sleep(0.05)
            router.emit("to9", "x", to="room9")
            assert there.wait_for("to9")[0][:2] == ["to9", "x"]
            assert router.call("q?", timeout=5) == ["pong"]
