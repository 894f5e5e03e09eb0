"""Namespaces given by pattern with node in the cluster: a node socket.io 4.8 server on
@socket.io/redis-adapter 8.3 with a parent namespace (``io.of(/^\\/room-\\d+$/)``, node's
``cleanupEmptyChildNamespaces`` on) and a geventio server with the same pattern share a
private Redis. Node creates a child namespace, with an adapter of its own, when its first
client connects; geventio subscribes to the namespace the same way, so broadcasts and
requests about ``/room-7`` cross both ways. socket.io-client 4.x clients (run by the node
harness) sit on both servers."""
import re
import time

import gevent
import gevent.event
import pytest

import geventio
from geventio.adapters.remote import RemoteConnection
from helpers.server import make_application, serve

pytestmark = pytest.mark.slow

PATTERN = r"^/room-\d+$"


class Lobby(geventio.SocketConnection):
    def on_message(self, message):
        pass


class Room(geventio.SocketConnection):
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

    def node_client(self, name, namespace):
        return self.node.connect(name, namespace=namespace)

    def geventio_client(self, name, namespace):
        return self.node.connect(name, namespace=namespace, url=self.base)


@pytest.fixture
def pair(redis_server, redis_key, node_cluster):
    node = node_cluster.server(redis_server.url, redis_key, name="A", parents=[PATTERN],
                               cleanup_empty_child_namespaces=True)
    adapter = geventio.RedisAdapter(redis_server.url, key=redis_key)
    router = geventio.get_router(Lobby, namespaces={re.compile(PATTERN): Room},
                                 adapter=adapter)
    assert adapter.wait_subscribed(5)
    with serve(make_application([router.route()])) as base:
        yield Pair(node, router, base)
    router.close()


def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.05)
    return True


def reached(node, name, emit, timeout=10.0):
    """Emit "probe" (``emit()``) until the client ``name`` got one: the namespace's
    subscription is in place where the client is."""
    deadline = time.monotonic() + timeout
    while not [e for e in node.received(name) if e[0] == "probe"]:
        assert time.monotonic() < deadline, "the namespace never reached %s" % name
        emit()
        gevent.sleep(0.1)


def last(log, event):
    return [e for e in log if e[0] == event][-1]


def test_a_geventio_emit_reaches_a_node_client_of_a_child_namespace(pair):
    pair.node_client("n7", "/room-7")
    assert "/room-7" in pair.node.namespaces()
    reached(pair.node, "n7", lambda: pair.router.emit("probe", namespace="/room-7"))
    pair.router.emit("hello", b"\x01\x02", {"n": 7}, namespace="/room-7")
    assert last(pair.node.wait_for("n7", "hello"), "hello") == ["hello", b"\x01\x02", {"n": 7}]


def test_a_node_emit_reaches_a_geventio_client_of_the_same_namespace(pair):
    pair.geventio_client("g7", "/room-7")
    reached(pair.node, "g7", lambda: pair.node.emit("probe", namespace="/room-7"))
    pair.node.emit("news", 1, namespace="/room-7")
    assert last(pair.node.wait_for("g7", "news"), "news") == ["news", 1]


def test_node_requests_about_the_namespace_are_answered_by_geventio(pair):
    g7 = pair.geventio_client("g7", "/room-7")
    n7 = pair.node_client("n7", "/room-7")
    reached(pair.node, "g7", lambda: pair.node.emit("probe", namespace="/room-7"))
    pair.node.client_join("g7", "red")
    assert eventually(lambda: pair.node.server_count("/room-7") == 2)
    sockets = {s["id"]: s for s in pair.node.fetch_sockets(namespace="/room-7")}
    assert sorted(sockets) == sorted([g7, n7])
    assert sorted(sockets[g7]["rooms"]) == sorted([g7, "red"])
    assert "red" in pair.node.all_rooms("/room-7")
    pair.node.sockets_join("vip", to=g7, namespace="/room-7")
    assert eventually(lambda: "vip" in pair.router.all_rooms("/room-7"))
    answer = pair.node.emit_with_ack("ask", namespace="/room-7", timeout=3)
    assert answer["error"] is None and sorted(answer["responses"]) == ["g7-ack", "n7-ack"]
    pair.node.disconnect_sockets(to=g7, namespace="/room-7")
    assert pair.node.wait_for("g7", "$disconnect")[-1][0] == "$disconnect"


def test_geventio_requests_about_the_namespace_are_answered_by_node(pair):
    n7 = pair.node_client("n7", "/room-7")
    pair.node.handle("whoami", "node-7", namespace="/room-7")
    pair.node.client_join("n7", "blue")
    # no geventio client on /room-7: the router listens to it only for each request
    [remote] = pair.router.fetch_connections(namespace="/room-7")
    assert isinstance(remote, RemoteConnection) and remote.session_id == n7
    assert remote.rooms == {n7, "blue"}
    assert pair.router.all_rooms("/room-7") == {n7, "blue"}
    answers = gevent.event.AsyncResult()
    pair.router.server_side_emit("whoami", namespace="/room-7", callback=answers.set)
    assert answers.get(timeout=10) == ["node-7"]
    assert pair.router.call("ask", namespace="/room-7", timeout=5) == ["n7-ack"]
    remote.join("gold")
    assert eventually(lambda: "gold" in pair.node.local_rooms("/room-7"))
    remote.close()
    assert pair.node.wait_for("n7", "$disconnect")[-1][0] == "$disconnect"


def test_node_stops_counting_geventio_when_its_last_client_there_leaves(pair):
    pair.node_client("n7", "/room-7")
    pair.geventio_client("g7", "/room-7")
    reached(pair.node, "g7", lambda: pair.node.emit("probe", namespace="/room-7"))
    assert eventually(lambda: pair.node.server_count("/room-7") == 2)
    pair.node.client_close("g7")
    assert eventually(lambda: pair.node.server_count("/room-7") == 1)
    assert pair.router.adapter.namespaces == ["/"]
