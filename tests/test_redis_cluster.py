"""Two geventio servers on one private Redis (RedisAdapter): every router operation reaches
the clients of the other server. Both servers run in the test process, each with its own
adapter, Redis connections and uid, on its own port; the clients are real WebSocket clients
(Socket.IO v5, v4 as socket.io-client 2.x, and socket.io 0.6)."""
import contextlib

import gevent
import pytest

import geventio
from geventio.adapters.remote import RemoteConnection
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient
from helpers.wire06 import Peer

pytestmark = pytest.mark.slow


class Chat(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.data["name"] = request.args.get("name", "anon")

    @geventio.event("join")
    def on_join(self, room):
        self.join(room)
        return "joined"

    def on_message(self, message):
        pass


class Admin(Chat):
    pass


class Member:
    """One geventio server of the cluster: its router and its URL."""

    def __init__(self, router, base):
        self.router = router
        self.base = base

    def client(self, **kwargs):
        return SioClient(self.base, **kwargs)


@contextlib.contextmanager
def member(url, key, **adapter_options):
    adapter = geventio.RedisAdapter(url, key=key, **adapter_options)
    router = geventio.get_router(Chat, namespaces={"/admin": Admin}, adapter=adapter)
    assert adapter.wait_subscribed(5)
    with serve(make_application([router.route()])) as base:
        try:
            yield Member(router, base)
        finally:
            router.close()


@pytest.fixture
def cluster(redis_server, redis_key):
    with member(redis_server.url, redis_key) as a, member(redis_server.url, redis_key) as b:
        yield a, b


def joined(client, room):
    client.emit("join", room)
    gevent.sleep(0.1)


# -- broadcasts ------------------------------------------------------------------------------

def test_an_emit_reaches_the_clients_of_the_other_server(cluster):
    a, b = cluster
    with a.client() as ca, b.client() as cb:
        assert a.router.emit("hello", "world", 1, {"k": [2.5, None]}) == 1
        assert cb.wait_for("hello") == [["hello", "world", 1, {"k": [2.5, None]}]]
        assert ca.wait_for("hello") == [["hello", "world", 1, {"k": [2.5, None]}]]


def test_emit_returns_only_the_local_count(cluster):
    a, b = cluster
    with b.client() as cb:
        assert a.router.emit("x") == 0
        cb.wait_for("x")


def test_binary_arrives_as_binary_on_the_other_server(cluster):
    a, b = cluster
    with b.client() as cb:
        a.router.emit("bin", b"\x00\x01\xff", {"nested": b"hi"})
        assert cb.wait_for("bin") == [["bin", b"\x00\x01\xff", {"nested": b"hi"}]]


def test_a_local_emit_stays_in_its_process(cluster):
    a, b = cluster
    with a.client() as ca, b.client() as cb:
        a.router.emit("only-here", local=True)
        ca.wait_for("only-here")
        assert cb.nothing("only-here")


def test_send_reaches_other_servers_as_message_events(cluster):
    a, b = cluster
    with b.client() as cb:
        a.router.send(["one", {"two": 2}])
        assert cb.wait_for("message", 2) == [["message", "one"], ["message", {"two": 2}]]


def test_an_emit_to_a_room_reaches_its_members_on_the_other_server_only(cluster):
    a, b = cluster
    with b.client() as in_room, b.client() as outside:
        joined(in_room, "red")
        a.router.emit("r", 1, to="red")
        in_room.wait_for("r")
        assert outside.nothing("r")


def test_skip_by_room_and_by_connection_work_across_servers(cluster):
    a, b = cluster
    with b.client() as skipped, b.client() as other, a.client() as local:
        joined(skipped, "quiet")
        conn = a.router.connections()[0]
        a.router.emit("s", to=None, skip=["quiet", conn])
        other.wait_for("s")
        assert skipped.nothing("s") and local.nothing("s", 0)


def test_a_socket_id_is_a_room_across_servers(cluster):
    a, b = cluster
    with b.client() as target, b.client() as other:
        a.router.emit("direct", 7, to=target.sid)
        assert target.wait_for("direct") == [["direct", 7]]
        assert other.nothing("direct")


def test_namespaces_stay_apart_across_servers(cluster):
    a, b = cluster
    with b.client(namespace="/admin") as admin, b.client() as main:
        a.router.emit("adm", "x", namespace="/admin")
        assert admin.wait_for("adm") == [["adm", "x"]]
        assert main.nothing("adm")


def test_a_broadcast_reaches_0_6_and_2_x_clients_of_the_other_server(cluster):
    a, b = cluster
    peer = Peer(b.base, origin=None)
    try:
        with b.client(eio=3) as v2:
            gevent.sleep(0.1)
            a.router.send("plain")
            a.router.emit("ev", 1, "two")
            assert v2.wait_for("message") == [["message", "plain"]]
            assert v2.wait_for("ev") == [["ev", 1, "two"]]
            got = peer.user_messages(2)
            assert got[0] == "plain"
            assert got[1].startswith("~j~") and '"name": "ev"' in got[1].replace('":"', '": "')
    finally:
        peer.close()


def test_500_broadcasts_arrive_in_order_on_the_other_server(cluster):
    a, b = cluster
    with b.client() as cb:
        for i in range(500):
            a.router.emit("n", i)
        got = cb.wait_for("n", 500, timeout=20)
        assert [e[1] for e in got] == list(range(500))


# -- acknowledgements ------------------------------------------------------------------------

def test_call_gathers_the_acks_of_every_client_of_every_server(cluster):
    a, b = cluster
    with a.client(ack="from-a") as _ca, b.client(ack="from-b1") as _b1, \
            b.client(ack="from-b2") as _b2:
        assert sorted(a.router.call("ask", 1, timeout=5)) == ["from-a", "from-b1", "from-b2"]


def test_call_raises_timeout_with_the_acks_that_came(cluster):
    a, b = cluster

    class Silent(SioClient):
        def send_packet(self, packet):
            if packet.type != 3:  # never acknowledges
                super().send_packet(packet)

    with b.client(ack="yes") as _cb, Silent(a.base) as _silent:
        with pytest.raises(geventio.TimeoutError) as failure:
            a.router.call("ask", timeout=1)
        assert failure.value.responses == ["yes"]


def test_call_does_not_wait_for_0_6_clients(cluster):
    a, b = cluster
    peer = Peer(b.base, origin=None)
    try:
        with b.client(ack="v5") as _cb:
            gevent.sleep(0.1)
            assert a.router.call("ask", "q", timeout=5) == ["v5"]
            assert '"ask"' in peer.user_messages(1)[0]
    finally:
        peer.close()


# -- requests --------------------------------------------------------------------------------

def test_server_count_counts_every_member(cluster):
    a, b = cluster
    assert a.router.server_count() == 2 and b.router.server_count("/admin") == 2


def test_fetch_connections_lists_remote_connections_with_rooms_and_data(cluster):
    a, b = cluster
    with a.client() as ca, SioClient(b.base + "", namespace="/") as cb:
        joined(cb, "blue")
        found = {c.session_id: c for c in a.router.fetch_connections()}
        assert set(found) == {ca.sid, cb.sid}
        assert isinstance(found[ca.sid], geventio.SocketConnection)
        remote = found[cb.sid]
        assert isinstance(remote, RemoteConnection)
        assert remote.rooms == {cb.sid, "blue"} and remote.data == {"name": "anon"}
        assert remote.handshake["address"] == "127.0.0.1"
        assert [c.session_id for c in a.router.fetch_connections("blue")] == [cb.sid]


def test_a_remote_connection_acts_where_its_client_lives(cluster):
    a, b = cluster
    with b.client() as cb:
        [remote] = [c for c in a.router.fetch_connections() if c.session_id == cb.sid]
        remote.emit("to-you", 1)
        assert cb.wait_for("to-you") == [["to-you", 1]]
        remote.join("green")
        gevent.sleep(0.2)
        assert b.router.connections("green")[0].session_id == cb.sid
        remote.leave("green")
        gevent.sleep(0.2)
        assert b.router.connections("green") == []
        remote.close()
        cb.disconnected.wait(5)
        assert ["$disconnect"] in cb.events


def test_join_leave_and_disconnect_act_on_every_server(cluster):
    a, b = cluster
    with b.client() as cb, a.client() as ca:
        a.router.join("all-of-us")
        gevent.sleep(0.2)
        assert len(b.router.connections("all-of-us")) == len(a.router.connections("all-of-us")) == 1
        a.router.leave("all-of-us", to=cb.sid)
        gevent.sleep(0.2)
        assert b.router.connections("all-of-us") == []
        a.router.disconnect(to=cb.sid)
        cb.disconnected.wait(5)
        assert ["$disconnect"] in cb.events and not ca.disconnected.is_set()


def test_all_rooms_joins_the_rooms_of_every_server(cluster):
    a, b = cluster
    with a.client() as ca, b.client() as cb:
        joined(ca, "ra")
        joined(cb, "rb")
        assert a.router.all_rooms() == {ca.sid, cb.sid, "ra", "rb"}


def test_server_side_emit_runs_the_other_servers_handler_and_returns_its_answer(cluster):
    a, b = cluster
    seen = []

    @b.router.server_event("ping")
    def ping(*args):
        seen.append(args)
        return "pong-b"

    answers = gevent.event.AsyncResult()
    a.router.server_side_emit("ping", 1, b"\x02", callback=answers.set)
    assert answers.get(timeout=5) == ["pong-b"]
    a.router.server_side_emit("ping", "no-callback")
    gevent.sleep(0.3)
    assert seen == [(1, b"\x02"), ("no-callback",)]


def test_a_server_side_emit_ends_at_its_timeout_when_a_member_does_not_answer(
        redis_server, redis_key):
    with member(redis_server.url, redis_key) as a:
        silent = redis_server.client()
        pubsub = silent.pubsub()
        pubsub.subscribe("%s-request#/#" % redis_key)  # counted, never answers
        try:
            answers = gevent.event.AsyncResult()
            a.router.server_side_emit("ping", callback=answers.set, timeout=0.5)
            assert answers.get(timeout=3) == []
            assert a.router.all_rooms(timeout=0.5) == set()
        finally:
            pubsub.close()
            silent.close()


def test_a_volatile_emit_reaches_an_idle_client_of_the_other_server(cluster):
    a, b = cluster
    with b.client() as cb:
        a.router.emit("v", 1, volatile=True)
        cb.wait_for("v")


# -- construction ----------------------------------------------------------------------------

def test_get_router_takes_a_redis_url(redis_server):
    router = geventio.get_router(Chat, adapter=redis_server.url)
    try:
        assert isinstance(router.adapter, geventio.RedisAdapter)
        assert router.adapter.wait_subscribed(5)
        assert router.server_count() >= 1
    finally:
        router.close()


def test_an_adapter_url_of_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="unknown adapter URL scheme"):
        geventio.get_router(Chat, adapter="mqtt://127.0.0.1:1883")


def test_binary_from_another_server_still_reaches_modern_clients_beside_a_0_6_one(cluster):
    a, b = cluster
    peer = Peer(b.base, origin=None)
    try:
        with b.client() as cb:
            a.router.emit("bin", b"\xff")
            assert cb.wait_for("bin") == [["bin", b"\xff"]]
    finally:
        peer.close()


def test_every_request_type_a_node_server_may_send_is_answered(redis_server, redis_key):
    from geventio.protocol import redis_wire as wire
    from helpers.redis import RedisCapture
    with member(redis_server.url, redis_key) as b, b.client() as cb, \
            RedisCapture(redis_server.url, redis_key + "-response#*") as capture:
        joined(cb, "room1")
        publisher = redis_server.client()
        request_channel = "%s-request#/#" % redis_key

        def ask(message, binary=False):
            publisher.publish(request_channel, wire.encode_request(message, binary))
            return [wire.decode_request(body) for _, body in capture.wait(1)][0]
        try:
            assert ask({"uid": "nodeAA", "requestId": "r0", "type": 0, "rooms": ["room1"]}) == {
                "requestId": "r0", "sockets": [cb.sid]}
            assert ask({"uid": "nodeAA", "requestId": "r1", "type": 1}) == {
                "requestId": "r1", "rooms": sorted([cb.sid, "room1"])}
            fetched = ask({"uid": "nodeAA", "requestId": "r5", "type": 5,
                           "opts": {"rooms": ["room1"], "except": []}})
            assert [s["id"] for s in fetched["sockets"]] == [cb.sid]
            assert ask({"uid": "nodeAA", "requestId": "r6", "type": 6,
                        "data": ["no-handler", 1]}) == {"type": 6, "requestId": "r6",
                                                        "data": None}
            assert ask({"uid": "nodeAA", "requestId": "r2", "type": 2, "sid": cb.sid,
                        "room": "legacy"}) == {"requestId": "r2"}
            assert "legacy" in b.router.connections()[0].rooms
            publisher.publish(request_channel, wire.encode_request({
                "uid": "nodeAA", "requestId": "r7", "type": 7,
                "packet": {"type": 2, "data": ["ack-me", 16], "nsp": "/"},
                "opts": {"rooms": [], "except": [], "flags": {"timeout": 1500}}}))
            count, ack = [wire.decode_request(body) for _, body in capture.wait(2)]
            assert count == {"type": 8, "requestId": "r7", "clientCount": 1}
            assert ack == {"type": 9, "requestId": "r7", "packet": "ack-" + cb.sid}
        finally:
            publisher.close()
