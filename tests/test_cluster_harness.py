"""The cluster test infrastructure itself: a private redis-server, node socket.io 4.8 members
on @socket.io/redis-adapter, and node's redis-emitter (tests/helpers/redis.py, cluster.py).

Short on purpose: geventio's cluster behaviour is specified elsewhere; these only show the
harness does what its users rely on.
"""
import datetime

import msgpack
import pytest

from helpers.redis import RedisCapture

pytestmark = pytest.mark.slow


def test_private_redis_restarts_on_the_same_port_after_a_kill(private_redis):
    port = private_redis.port
    private_redis.client().set("k", "v")
    private_redis.kill()
    assert not private_redis.ping()
    private_redis.start()
    assert private_redis.port == port and private_redis.ping()
    assert private_redis.client().get("k") is None  # no persistence


def test_a_broadcast_from_one_node_member_reaches_a_client_of_another(
        redis_server, redis_key, node_cluster):
    a = node_cluster.server(redis_server.url, redis_key, name="A")
    b = node_cluster.server(redis_server.url, redis_key, name="B")
    b.connect("c1")
    b.client_join("c1", "room1")
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    a.emit("hello", "world", b"\x01\x02", {"when": when}, to="room1")
    log = b.wait_for("c1", "hello")
    # the client sees the Date as node's JSON string, the bytes as a binary attachment
    assert log[-1] == ["hello", "world", b"\x01\x02", {"when": "2024-01-02T03:04:05.678Z"}]


def test_node_members_answer_each_others_requests(redis_server, redis_key, node_cluster):
    a = node_cluster.server(redis_server.url, redis_key, name="A")
    b = node_cluster.server(redis_server.url, redis_key, name="B",
                            server_events={"ping-sse": "B-pong"})
    sid = b.connect("c1", auth={"data": {"user": "ann"}})
    b.client_join("c1", "room1")
    assert a.server_count() == 2
    assert a.server_side_emit("ping-sse", 15, ack=True) == {"error": None,
                                                             "responses": ["B-pong"]}
    assert b.server_events()[-1] == {"nsp": "/", "event": "ping-sse", "args": [15]}
    [sock] = a.fetch_sockets(to="room1")
    assert (sock["id"], sorted(sock["rooms"]), sock["data"]) == (sid, sorted([sid, "room1"]),
                                                                 {"user": "ann"})
    assert a.all_rooms() == sorted([sid, "room1"])


def test_node_emitter_publishes_the_reference_bytes_and_reaches_clients(
        redis_server, redis_key, node_cluster):
    b = node_cluster.server(redis_server.url, redis_key, name="B")
    b.connect("c1")
    b.client_join("c1", "room1")
    emitter = node_cluster.emitter(redis_server.url, redis_key)
    with RedisCapture(redis_server.url, redis_key + "*") as capture:
        emitter.emit("from-emitter", 17, to="room1")
        [(channel, body)] = capture.wait(1)
    assert channel == redis_key + "#/#room1#"
    # cluster-wire-and-recovery.md §1.9, captured from @socket.io/redis-emitter 5.1.0
    assert body.hex() == ("93a7656d697474657283a47479706502a46461746192ac66726f6d2d656d6974"
                          "74657211a36e7370a12f83a5726f6f6d7391a5726f6f6d31a5666c61677380a6"
                          "65786365707490")
    assert msgpack.unpackb(body) == ["emitter", {"type": 2, "data": ["from-emitter", 17],
                                                 "nsp": "/"},
                                     {"rooms": ["room1"], "flags": {}, "except": []}]
    assert b.wait_for("c1", "from-emitter")[-1] == ["from-emitter", 17]
