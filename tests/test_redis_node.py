"""geventio and node in one cluster: a node socket.io 4.8 server on @socket.io/redis-adapter
8.3 and a geventio server (RedisAdapter) share a private Redis. Broadcasts and requests go
both ways; socket.io-client 4.x clients (driven by the node harness) sit on both servers,
and geventio's 2.x-style and 0.6 clients receive node's broadcasts too."""
import datetime

import gevent
import gevent.event
import pytest

import geventio
from geventio.adapters.remote import RemoteConnection
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient
from helpers.wire06 import Peer

pytestmark = pytest.mark.slow

DATE = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)


class Chat(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.data.update((kwargs.get("auth") or {}).get("data") or {})

    @geventio.event("join")
    def on_join(self, room):
        self.join(room)
        return self.session_id

    def on_message(self, message):
        pass


class Pair:
    """The node member ``node`` (with its clients) and the geventio member (router, base)."""

    def __init__(self, node, router, base):
        self.node = node
        self.router = router
        self.base = base

    def node_client(self, name, **kwargs):
        """A socket.io-client 4.x on the node server; its id."""
        return self.node.connect(name, **kwargs)

    def geventio_client(self, name, **kwargs):
        """A socket.io-client 4.x (run by the node harness) on the geventio server; its id."""
        return self.node.connect(name, url=self.base, **kwargs)


@pytest.fixture
def pair(redis_server, redis_key, node_cluster):
    node = node_cluster.server(redis_server.url, redis_key, name="A",
                               namespaces=("/", "/admin"),
                               server_events={"ping-sse": "node-pong"})
    adapter = geventio.RedisAdapter(redis_server.url, key=redis_key)
    router = geventio.get_router(Chat, namespaces={"/admin": Chat}, adapter=adapter)
    assert adapter.wait_subscribed(5)
    with serve(make_application([router.route()])) as base:
        yield Pair(node, router, base)
    router.close()


def last(log, event):
    return [e for e in log if e[0] == event][-1]


# -- node -> geventio's clients --------------------------------------------------------------

def test_a_node_emit_reaches_geventio_clients_with_the_same_arguments(pair):
    pair.geventio_client("g1")
    pair.node.emit("hello", "world", 1, 2.5, True, None, {"k": [1, "x"]})
    log = pair.node.wait_for("g1", "hello")
    assert last(log, "hello") == ["hello", "world", 1, 2.5, True, None, {"k": [1, "x"]}]


def test_node_buffers_reach_geventio_clients_as_binary(pair):
    pair.geventio_client("g1")
    pair.node.emit("bin", b"\x01\x02\x03", {"nested": b"hi"})
    assert last(pair.node.wait_for("g1", "bin"), "bin") == [
        "bin", b"\x01\x02\x03", {"nested": b"hi"}]


def test_a_node_date_reaches_geventio_clients_as_nodes_string(pair):
    pair.geventio_client("g1")
    pair.node.emit("date", DATE)
    assert last(pair.node.wait_for("g1", "date"), "date") == ["date", "2024-01-02T03:04:05.678Z"]


def test_node_rooms_except_and_socket_ids_address_geventio_clients(pair):
    g1 = pair.geventio_client("g1")
    g2 = pair.geventio_client("g2")
    pair.node.client_join("g1", "room1")
    pair.node.emit("r1", {"a": 1}, to="room1")
    pair.node.emit("not-room1", skip="room1")
    pair.node.emit("direct", 7, to=g2)
    assert last(pair.node.wait_for("g1", "r1"), "r1") == ["r1", {"a": 1}]
    assert last(pair.node.wait_for("g2", "not-room1"), "not-room1") == ["not-room1"]
    assert last(pair.node.wait_for("g2", "direct"), "direct") == ["direct", 7]
    gevent.sleep(0.3)
    assert [e[0] for e in pair.node.received("g2")].count("r1") == 0
    assert "not-room1" not in [e[0] for e in pair.node.received("g1")]
    assert "direct" not in [e[0] for e in pair.node.received("g1")]
    assert g1 != g2


def test_a_node_emit_to_a_namespace_reaches_only_that_namespace(pair):
    pair.geventio_client("main")
    pair.geventio_client("adm", namespace="/admin")
    pair.node.emit("adm", "x", namespace="/admin")
    assert last(pair.node.wait_for("adm", "adm"), "adm") == ["adm", "x"]
    gevent.sleep(0.2)
    assert "adm" not in [e[0] for e in pair.node.received("main")]


def test_a_node_broadcast_reaches_geventio_0_6_and_2_x_clients(pair):
    peer = Peer(pair.base, origin=None)
    try:
        with SioClient(pair.base, eio=3) as v2:
            gevent.sleep(0.2)
            pair.node.emit("message", "plain")
            pair.node.emit("ev", 1)
            assert v2.wait_for("ev") == [["ev", 1]]
            assert v2.named("message") == [["message", "plain"]]
            got = peer.user_messages(2)
            assert got[0] == "plain"
            assert got[1].startswith("~j~") and '"ev"' in got[1]
    finally:
        peer.close()


def test_the_node_emitter_reaches_geventio_clients(pair, redis_server, redis_key,
                                                   node_cluster):
    emitter = node_cluster.emitter(redis_server.url, redis_key)
    pair.geventio_client("g1")
    pair.node.client_join("g1", "room1")
    emitter.emit("from-emitter", 17, to="room1")
    assert last(pair.node.wait_for("g1", "from-emitter"), "from-emitter") == [
        "from-emitter", 17]


# -- geventio -> node's clients --------------------------------------------------------------

def test_a_geventio_emit_reaches_node_clients(pair):
    pair.node_client("n1")
    pair.router.emit("hi", "there", b"\x00\xff", {"n": [1.5, None]})
    assert last(pair.node.wait_for("n1", "hi"), "hi") == [
        "hi", "there", b"\x00\xff", {"n": [1.5, None]}]


def test_geventio_rooms_skips_and_messages_reach_node_clients(pair):
    n1 = pair.node_client("n1")
    pair.node_client("n2")
    pair.node.client_join("n1", "room1")
    pair.router.emit("in-room", to="room1")
    pair.router.emit("not-n1", skip=n1)
    pair.router.send(["m1", {"m": 2}], to="room1")
    assert last(pair.node.wait_for("n1", "in-room"), "in-room") == ["in-room"]
    pair.node.wait_for("n2", "not-n1")
    log = pair.node.wait_for("n1", "message", 2)
    assert [e for e in log if e[0] == "message"] == [["message", "m1"], ["message", {"m": 2}]]
    gevent.sleep(0.2)
    assert "not-n1" not in [e[0] for e in pair.node.received("n1")]
    assert "in-room" not in [e[0] for e in pair.node.received("n2")]


# -- requests from node, answered by geventio -----------------------------------------------

def test_node_counts_the_geventio_server(pair):
    assert pair.node.server_count() == 2 and pair.router.server_count() == 2


def test_node_fetch_sockets_lists_geventio_connections(pair):
    g1 = pair.geventio_client("g1", auth={"data": {"user": "ann"}})
    n1 = pair.node_client("n1")
    pair.node.client_join("g1", "room1")
    sockets = {s["id"]: s for s in pair.node.fetch_sockets()}
    assert set(sockets) == {g1, n1}
    assert sorted(sockets[g1]["rooms"]) == sorted([g1, "room1"])
    assert sockets[g1]["data"] == {"user": "ann"}
    assert sockets[g1]["handshake"]["address"] == "127.0.0.1"
    assert [s["id"] for s in pair.node.fetch_sockets(to="room1")] == [g1]


def test_node_all_rooms_includes_geventio_rooms(pair):
    g1 = pair.geventio_client("g1")
    pair.node.client_join("g1", "g-room")
    assert {g1, "g-room"} <= set(pair.node.all_rooms())


def test_node_sockets_join_leave_and_disconnect_act_on_geventio_clients(pair):
    g1 = pair.geventio_client("g1")
    pair.node.sockets_join("room9", to=g1)
    gevent.sleep(0.3)
    assert [c.session_id for c in pair.router.connections("room9")] == [g1]
    pair.node.sockets_leave("room9")
    gevent.sleep(0.3)
    assert pair.router.connections("room9") == []
    pair.node.disconnect_sockets(to=g1)
    log = pair.node.wait_for("g1", "$disconnect")
    assert last(log, "$disconnect") == ["$disconnect", "io server disconnect"]


def test_node_server_side_emit_is_answered_by_a_geventio_handler(pair):
    seen = []

    @pair.router.server_event("ping-g")
    def ping(*args):
        seen.append(args)
        return "g-pong"

    result = pair.node.server_side_emit("ping-g", 15, ack=True)
    assert result == {"error": None, "responses": ["g-pong"]}
    pair.node.server_side_emit("ping-g", 14)
    gevent.sleep(0.3)
    assert seen == [(15,), (14,)]


def test_node_emit_with_ack_gathers_geventio_clients_acks(pair):
    pair.geventio_client("g1", ack="g1-says")
    pair.node_client("n1", ack="n1-says")
    result = pair.node.emit_with_ack("ack-me", 16, timeout=3)
    assert result["error"] is None and sorted(result["responses"]) == ["g1-says", "n1-says"]


def test_node_emit_with_ack_does_not_time_out_when_geventio_has_no_matching_client(pair):
    pair.node_client("n1", ack="n1-says")
    result = pair.node.emit_with_ack("ack-me", to="nobody-here-but-node", timeout=2)
    assert result == {"error": None, "responses": []}


# -- requests from geventio, answered by node ------------------------------------------------

def test_geventio_fetch_connections_lists_node_sockets(pair):
    n1 = pair.node_client("n1", auth={"data": {"user": "bob"}})
    pair.node.client_join("n1", "node-room")
    [remote] = [c for c in pair.router.fetch_connections() if c.session_id == n1]
    assert isinstance(remote, RemoteConnection)
    assert remote.rooms == {n1, "node-room"} and remote.data == {"user": "bob"}
    remote.emit("to-n1", 1)
    assert last(pair.node.wait_for("n1", "to-n1"), "to-n1") == ["to-n1", 1]
    remote.join("joined-by-geventio")
    gevent.sleep(0.3)
    assert pair.node.local_rooms()["joined-by-geventio"] == [n1]
    remote.close()
    pair.node.wait_for("n1", "$disconnect")


def test_geventio_all_rooms_includes_node_rooms(pair):
    n1 = pair.node_client("n1")
    pair.node.client_join("n1", "node-room")
    assert {n1, "node-room"} <= pair.router.all_rooms()


def test_geventio_join_and_disconnect_act_on_node_sockets(pair):
    n1 = pair.node_client("n1")
    pair.router.join("from-g", to=n1)
    gevent.sleep(0.3)
    assert pair.node.local_rooms().get("from-g") == [n1]
    pair.router.leave("from-g")
    gevent.sleep(0.3)
    assert "from-g" not in pair.node.local_rooms()
    pair.router.disconnect(close=True)
    pair.node.wait_for("n1", "$disconnect")


def test_geventio_server_side_emit_is_answered_by_node(pair):
    answers = gevent.event.AsyncResult()
    pair.router.server_side_emit("ping-sse", 1, callback=answers.set)
    assert answers.get(timeout=5) == ["node-pong"]
    assert pair.node.wait_server_event("ping-sse")[0]["args"] == [1]


def test_geventio_call_gathers_acks_from_node_clients(pair):
    pair.node_client("n1", ack="n1-says")
    pair.geventio_client("g1", ack="g1-says")
    assert sorted(pair.router.call("q", timeout=5)) == ["g1-says", "n1-says"]


def test_requests_end_at_their_timeout_with_what_came_when_a_member_dies_mid_request(
        pair, redis_server, redis_key, node_cluster):
    import os
    import signal
    doomed = node_cluster.server(redis_server.url, redis_key, name="B",
                                 server_events={"ping-sse": "b-pong"})
    n1 = pair.node_client("n1")
    assert pair.router.server_count() == 3
    os.kill(doomed.pid, signal.SIGSTOP)  # counted by Redis, answers nothing
    answers = gevent.event.AsyncResult()
    pair.router.server_side_emit("ping-sse", callback=answers.set, timeout=1.5)
    fetched = gevent.spawn(pair.router.fetch_connections, timeout=1.5)
    gevent.sleep(0.5)
    doomed.kill()  # dies mid-request
    assert answers.get(timeout=5) == ["node-pong"]
    assert [c.session_id for c in fetched.get(timeout=5)] == [n1]
