"""geventio.Emitter: a write-only publisher speaking node's @socket.io/redis-emitter 5.x.

Three parts: the encoding against the bytes captured from node's emitter
(shared/reference/cluster-wire-and-recovery.md §1.9) and against what node's emitter
publishes for the same calls on a private Redis; the Emitter's own rules (channels, targets,
refusals) with a recording client; and real node socket.io 4.8 servers on
@socket.io/redis-adapter acting on what the Python Emitter publishes (their socket.io-client
4.x clients get the events).
"""
import datetime
import subprocess
import sys

import msgpack
import pytest

import geventio
from geventio.emitter import Emitter
from geventio.protocol import redis_wire as wire
from helpers import REPO_ROOT
from helpers.cluster import NodeCluster, cluster_peers_available
from helpers.redis import RedisCapture, unique_key

#: node's emitter, to("room1").emit("from-emitter", 17) (§1.9)
EMITTER_ROOM1 = bytes.fromhex(
    "93a7656d697474657283a47479706502a46461746192ac66726f6d2d656d697474657211a36e7370a12f83"
    "a5726f6f6d7391a5726f6f6d31a5666c61677380a665786365707490")
DATE = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)


class RecordingRedis:
    """Stands in for redis-py: keeps what was published."""

    def __init__(self):
        self.published = []

    def publish(self, channel, body):
        self.published.append((channel, body))
        return 2


@pytest.fixture
def recorded():
    client = RecordingRedis()
    return Emitter(key="k", client=client), client.published


# --- the encoding (no server) ----------------------------------------------------------------

def test_an_emitter_broadcast_to_a_room_is_byte_identical_to_nodes_capture():
    assert wire.encode_emitter_broadcast("/", ["from-emitter", 17], ["room1"]) == EMITTER_ROOM1


def test_an_emitter_broadcast_keeps_the_emitters_uid_and_key_order():
    body = wire.encode_emitter_broadcast("/admin", ["em-admin", 19], except_rooms=["room3"])
    assert msgpack.unpackb(body) == ["emitter", {"type": 2, "data": ["em-admin", 19],
                                                 "nsp": "/admin"},
                                     {"rooms": [], "flags": {}, "except": ["room3"]}]
    assert list(msgpack.unpackb(body)[2]) == ["rooms", "flags", "except"]


def test_an_emitter_broadcast_carries_bytes_as_bin_inside_an_event_of_type_2():
    body = wire.encode_emitter_broadcast("/", ["bin", b"\x01\x02\x03", {"n": b"hi"}])
    packet = msgpack.unpackb(body)[1]
    assert packet["type"] == 2
    assert packet["data"] == ["bin", b"\x01\x02\x03", {"n": b"hi"}]
    assert b"\xc4\x03\x01\x02\x03" in body


def test_an_emitter_server_side_emit_is_nodes_json():
    assert wire.encode_emitter_server_side_emit(["ping-sse", 18]) == \
        b'{"uid":"emitter","type":6,"data":["ping-sse",18]}'


def test_emitter_join_leave_and_disconnect_requests_are_json_without_uid():
    assert wire.encode_emitter_rooms_request(wire.RequestType.REMOTE_JOIN, ["room1"], [],
                                             ["room9"]) == \
        b'{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room9"]}'
    assert wire.encode_emitter_rooms_request(wire.RequestType.REMOTE_LEAVE, [], ["x"],
                                             ["room9"]) == \
        b'{"type":3,"opts":{"rooms":[],"except":["x"]},"rooms":["room9"]}'
    assert wire.encode_emitter_disconnect(["room1"], [], True) == \
        b'{"type":4,"opts":{"rooms":["room1"],"except":[]},"close":true}'


def test_an_emitter_rooms_request_is_only_join_or_leave():
    with pytest.raises(ValueError):
        wire.encode_emitter_rooms_request(wire.RequestType.REMOTE_FETCH, [], [], ["r"])


# --- the Emitter's rules (a recording client) ------------------------------------------------

def test_a_broadcast_to_everyone_goes_on_the_namespace_channel(recorded):
    emitter, published = recorded
    emitter.emit("hello", 1)
    assert published[0][0] == "k#/#"


def test_a_broadcast_to_one_room_goes_on_the_rooms_channel(recorded):
    emitter, published = recorded
    emitter.emit("hello", to=["room1"])
    emitter.emit("hello", to="room1", skip="room2")
    assert [channel for channel, _ in published] == ["k#/#room1#", "k#/#room1#"]


def test_a_broadcast_to_several_rooms_goes_on_the_namespace_channel(recorded):
    emitter, published = recorded
    emitter.emit("hello", to=["room1", "room2", "room1"])
    channel, body = published[0]
    assert channel == "k#/#"
    assert msgpack.unpackb(body)[2]["rooms"] == ["room1", "room2"]


def test_a_namespace_without_a_slash_is_given_one(recorded):
    emitter, published = recorded
    emitter.emit("hello", namespace="admin")
    assert published[0][0] == "k#/admin#"
    assert msgpack.unpackb(published[0][1])[1]["nsp"] == "/admin"


def test_a_connection_stands_for_its_session_id_room(recorded):
    class Conn:
        session_id = "aSCHt3TCD-vR8cLRAAAA"

    emitter, published = recorded
    emitter.emit("direct", to=Conn())
    assert published[0][0] == "k#/#aSCHt3TCD-vR8cLRAAAA#"


def test_send_is_the_message_event_and_a_list_is_several_messages(recorded):
    emitter, published = recorded
    emitter.send(["a", {"b": 1}], to="room1")
    assert [msgpack.unpackb(body)[1]["data"] for _, body in published] == [
        ["message", "a"], ["message", {"b": 1}]]


def test_reserved_event_names_are_refused(recorded):
    emitter, published = recorded
    for name in ("connect", "disconnect", "connect_error", "disconnecting"):
        with pytest.raises(ValueError):
            emitter.emit(name)
    assert published == []


def test_requests_go_on_the_request_channel(recorded):
    emitter, published = recorded
    emitter.join("room9", to="room1")
    emitter.leave(["room9"], namespace="/admin")
    emitter.disconnect(close=True)
    emitter.server_side_emit("ping", 1)
    assert [channel for channel, _ in published] == [
        "k-request#/#", "k-request#/admin#", "k-request#/#", "k-request#/#"]


def test_each_call_answers_how_many_cluster_processes_received_it(recorded):
    emitter, _ = recorded
    assert emitter.emit("x") == 2


def test_the_emitter_is_exported_by_the_package():
    assert geventio.Emitter is Emitter


def test_the_emitter_imports_no_gevent_and_publishes_without_it(redis_server, redis_key):
    code = ("import sys\n"
            "from geventio import Emitter\n"
            "with Emitter(sys.argv[1], key=sys.argv[2]) as emitter:\n"
            "    emitter.emit('plain', 1)\n"
            "assert 'gevent' not in sys.modules, sorted(m for m in sys.modules if 'gevent' in m)\n")
    with RedisCapture(redis_server.url, redis_key + "*") as capture:
        proc = subprocess.run([sys.executable, "-c", code, redis_server.url, redis_key],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                              env={"PYTHONPATH": REPO_ROOT, "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        [(channel, body)] = capture.wait(1)
    assert channel == redis_key + "#/#"
    assert msgpack.unpackb(body)[1]["data"] == ["plain", 1]


# --- the same bytes as node's emitter (a private Redis) --------------------------------------

#: (name, the Python call, node's emitter call) -- same arguments both sides
SAME_CALLS = [
    ("everyone", lambda e: e.emit("hello", "world", 1, 2.5, True, None, {"k": [1, "x"]}),
     lambda n: n.emit("hello", "world", 1, 2.5, True, None, {"k": [1, "x"]})),
    ("one-room", lambda e: e.emit("r1", {"a": 1}, to="room1"),
     lambda n: n.emit("r1", {"a": 1}, to="room1")),
    ("rooms-and-except", lambda e: e.emit("multi", to=["room1", "room2"], skip="room3"),
     lambda n: n.emit("multi", to=["room1", "room2"], skip="room3")),
    ("binary", lambda e: e.emit("bin", b"\x01\x02\x03", {"nested": b"hi"}),
     lambda n: n.emit("bin", b"\x01\x02\x03", {"nested": b"hi"})),
    ("date", lambda e: e.emit("date", DATE), lambda n: n.emit("date", DATE)),
    ("text", lambda e: e.emit("t", "é€ \u2028 😀"), lambda n: n.emit("t", "é€ \u2028 😀")),
    ("volatile", lambda e: e.emit("vol", 1, volatile=True),
     lambda n: n.emit("vol", 1, volatile=True)),
    ("namespace", lambda e: e.emit("adm", "x", namespace="/admin", skip="room3"),
     lambda n: n.emit("adm", "x", namespace="/admin", skip="room3")),
    ("send", lambda e: e.send("a message"), lambda n: n.emit("message", "a message")),
    ("join", lambda e: e.join("room9", to="room1"),
     lambda n: n.sockets_join("room9", to="room1")),
    ("join-list", lambda e: e.join(["a", "b"], skip="room1"),
     lambda n: n.sockets_join(["a", "b"], skip="room1")),
    ("leave", lambda e: e.leave("room9", to=["room1", "room2"]),
     lambda n: n.sockets_leave("room9", to=["room1", "room2"])),
    ("disconnect", lambda e: e.disconnect(to="room1"),
     lambda n: n.disconnect_sockets(to="room1")),
    ("disconnect-close", lambda e: e.disconnect(close=True, namespace="/admin"),
     lambda n: n.disconnect_sockets(close=True, namespace="/admin")),
    ("server-side-emit", lambda e: e.server_side_emit("ping-sse", 18, {"a": "é"}),
     lambda n: n.server_side_emit("ping-sse", 18, {"a": "é"})),
]


@pytest.fixture(scope="module")
def node_emitter(redis_server):
    if not cluster_peers_available():
        pytest.skip("needs node and node_modules (npm ci); scripts/test.sh installs them")
    key = unique_key()
    cluster = NodeCluster()
    yield cluster.emitter(redis_server.url, key), key
    cluster.close()


@pytest.mark.slow
@pytest.mark.parametrize("python_call, node_call",
                         [pytest.param(p, n, id=name) for name, p, n in SAME_CALLS])
def test_the_emitter_publishes_what_nodes_emitter_publishes(redis_server, node_emitter,
                                                             python_call, node_call):
    node, key = node_emitter
    with RedisCapture(redis_server.url, key + "*") as capture, \
            Emitter(redis_server.url, key=key) as emitter:
        node_call(node)
        [theirs] = capture.wait(1)
        python_call(emitter)
        [ours] = capture.wait(1)
    assert ours == theirs


# --- real node socket.io 4.8 servers act on the Python Emitter -------------------------------

class Cluster:
    """Two node members A and B (namespaces / and /admin) on one key, an Emitter on it, and
    a fresh client name per call."""

    def __init__(self, redis_url):
        self.key = unique_key()
        self.nodes = NodeCluster()
        self.a = self.nodes.server(redis_url, self.key, name="A", namespaces=["/", "/admin"],
                                   server_events={"ping-sse": "A-pong"})
        self.b = self.nodes.server(redis_url, self.key, name="B", namespaces=["/", "/admin"],
                                   server_events={"ping-sse": "B-pong"})
        self.emitter = Emitter(redis_url, key=self.key)
        self._names = iter(range(1_000_000))

    def client(self, server, namespace="/", rooms=()):
        """A new client of ``server`` in ``rooms``: (name, session id)."""
        name = "c%d" % next(self._names)
        sid = server.connect(name, namespace=namespace)
        for room in rooms:
            server.client_join(name, room)
        return name, sid

    def close(self):
        self.emitter.close()
        self.nodes.close()


@pytest.fixture(scope="module")
def cluster(redis_server):
    if not cluster_peers_available():
        pytest.skip("needs node and node_modules (npm ci); scripts/test.sh installs them")
    cluster = Cluster(redis_server.url)
    yield cluster
    cluster.close()


def events(log, event):
    return [entry[1:] for entry in log if entry[0] == event]


@pytest.mark.slow
def test_an_emit_reaches_the_clients_of_every_node_member(cluster):
    on_a, _ = cluster.client(cluster.a)
    on_b, _ = cluster.client(cluster.b)
    assert cluster.emitter.emit("everyone", "x", 1, 2.5, None, {"k": [True]}) == 2
    for server, name in ((cluster.a, on_a), (cluster.b, on_b)):
        assert events(server.wait_for(name, "everyone"), "everyone") == [
            ["x", 1, 2.5, None, {"k": [True]}]]


@pytest.mark.slow
def test_an_emit_to_a_room_reaches_only_that_rooms_clients(cluster):
    inside, _ = cluster.client(cluster.b, rooms=["em-room1"])
    outside, _ = cluster.client(cluster.b)
    cluster.emitter.emit("roomed", 1, to="em-room1")
    cluster.emitter.emit("marker")
    assert events(cluster.b.wait_for(inside, "roomed"), "roomed") == [[1]]
    assert events(cluster.b.wait_for(outside, "marker"), "roomed") == []


@pytest.mark.slow
def test_skipped_rooms_are_not_reached(cluster):
    kept, _ = cluster.client(cluster.a, rooms=["em-room2"])
    skipped, _ = cluster.client(cluster.a, rooms=["em-room2", "em-room3"])
    cluster.emitter.emit("skipping", to=["em-room2", "em-other"], skip="em-room3")
    cluster.emitter.emit("marker", to="em-room2")
    assert events(cluster.a.wait_for(kept, "skipping"), "skipping") == [[]]
    assert events(cluster.a.wait_for(skipped, "marker"), "skipping") == []


@pytest.mark.slow
def test_an_emit_to_a_session_id_reaches_that_client(cluster):
    target, sid = cluster.client(cluster.b)
    cluster.emitter.emit("direct", 7, to=sid)
    assert events(cluster.b.wait_for(target, "direct"), "direct") == [[7]]


@pytest.mark.slow
def test_binary_arrives_intact_and_a_date_as_nodes_string(cluster):
    name, _ = cluster.client(cluster.a)
    cluster.emitter.emit("bin", b"\x00\x01\xff", {"nested": b"hi", "when": DATE})
    assert events(cluster.a.wait_for(name, "bin"), "bin") == [
        [b"\x00\x01\xff", {"nested": b"hi", "when": "2024-01-02T03:04:05.678Z"}]]


@pytest.mark.slow
def test_an_emit_to_a_namespace_reaches_only_its_clients(cluster):
    admin, _ = cluster.client(cluster.b, namespace="/admin")
    main, _ = cluster.client(cluster.b)
    cluster.emitter.emit("adm", "x", namespace="/admin")
    cluster.emitter.emit("marker")
    assert events(cluster.b.wait_for(admin, "adm"), "adm") == [["x"]]
    assert events(cluster.b.wait_for(main, "marker"), "adm") == []


@pytest.mark.slow
def test_send_reaches_clients_as_the_message_event(cluster):
    name, _ = cluster.client(cluster.a, rooms=["em-send"])
    cluster.emitter.send(["one", {"two": 2}], to="em-send")
    assert events(cluster.a.wait_for(name, "message", count=2), "message") == [
        ["one"], [{"two": 2}]]


@pytest.mark.slow
def test_join_makes_matching_clients_of_every_member_join(cluster):
    _, sid_a = cluster.client(cluster.a, rooms=["em-join"])
    on_b, sid_b = cluster.client(cluster.b, rooms=["em-join"])
    other, _ = cluster.client(cluster.b)
    cluster.emitter.join("em-joined", to="em-join")
    wait_until(lambda: {s["id"] for s in cluster.a.fetch_sockets(to="em-joined")},
               lambda members: members == {sid_a, sid_b})
    cluster.emitter.emit("after-join", to="em-joined")
    cluster.b.wait_for(on_b, "after-join")
    cluster.emitter.emit("marker")
    assert events(cluster.b.wait_for(other, "marker"), "after-join") == []


@pytest.mark.slow
def test_leave_makes_matching_clients_leave(cluster):
    name, sid = cluster.client(cluster.b, rooms=["em-leave", "em-stay"])
    cluster.emitter.leave("em-leave", to=sid)
    rooms = wait_until(lambda: cluster.b.local_rooms(), lambda r: sid not in r.get("em-leave", []))
    assert sid in rooms["em-stay"]


@pytest.mark.slow
def test_disconnect_disconnects_matching_clients_only(cluster):
    gone, _ = cluster.client(cluster.a, rooms=["em-bye"])
    stays, _ = cluster.client(cluster.a)
    cluster.emitter.disconnect(to="em-bye")
    assert events(cluster.a.wait_for(gone, "$disconnect"), "$disconnect") == [
        ["io server disconnect"]]
    cluster.emitter.emit("marker")
    assert events(cluster.a.wait_for(stays, "marker"), "$disconnect") == []


@pytest.mark.slow
def test_server_side_emit_runs_every_members_handler(cluster):
    cluster.emitter.server_side_emit("ping-sse", 18, {"b": b"\x01"})
    for server in (cluster.a, cluster.b):
        assert server.wait_server_event("ping-sse")[-1] == {
            "nsp": "/", "event": "ping-sse", "args": [18, {"b": b"\x01"}]}


def wait_until(probe, ok, timeout=5.0):
    """Call ``probe`` until ``ok(result)``; return the result."""
    import gevent
    with gevent.Timeout(timeout, AssertionError("condition not met in %s s" % timeout)):
        while True:
            result = probe()
            if ok(result):
                return result
            gevent.sleep(0.02)
