"""The router's cluster operations in one process (the in-memory adapter): what a single
server does with call, fetch_connections, join/leave/disconnect, server_side_emit,
all_rooms, server_count, volatile and local emits, to= connections, and conn.data."""
import gevent
import gevent.event
import pytest

import geventio
from geventio.adapters import BroadcastOptions, InMemoryAdapter
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient
from helpers.wire06 import Peer


class Chat(geventio.SocketConnection):
    def on_message(self, message):
        pass


@pytest.fixture
def server():
    router = geventio.get_router(Chat)
    with serve(make_application([router.route()])) as base:
        yield router, base
    router.close()


def test_call_returns_every_clients_ack(server):
    router, base = server
    with SioClient(base, ack="one") as _a, SioClient(base, ack="two") as _b:
        assert sorted(router.call("q", 1)) == ["one", "two"]


def test_call_with_no_client_returns_an_empty_list_at_once(server):
    router, _ = server
    assert router.call("q", timeout=0.1) == []


def test_call_sends_0_6_clients_the_event_as_a_message_and_does_not_wait(server):
    router, base = server
    peer = Peer(base, origin=None)
    try:
        gevent.sleep(0.1)
        assert router.call("q", 2, timeout=1) == []
        assert '"q"' in peer.user_messages(1)[0]
    finally:
        peer.close()


def test_a_client_acking_several_values_gives_a_list(server):
    router, base = server
    with SioClient(base) as client:
        client.send_packet = _acks_with(client, ["x", 2])
        assert router.call("q") == [["x", 2]]


def _acks_with(client, values):
    from geventio.protocol import socketio as sio
    original = client.send_packet

    def send(packet):
        if packet.type == sio.ACK:
            packet = sio.Packet(sio.ACK, packet.namespace, values, packet.id)
        original(packet)
    return send


def test_timeout_error_carries_the_responses():
    error = geventio.TimeoutError("late", responses=[1, 2])
    assert error.responses == [1, 2] and geventio.TimeoutError("x").responses == []


def test_fetch_connections_in_one_process_are_the_local_connections(server):
    router, base = server
    with SioClient(base) as client:
        [conn] = router.fetch_connections()
        assert conn.session_id == client.sid and conn is router.connections()[0]


def test_join_leave_and_disconnect_from_the_router(server):
    router, base = server
    with SioClient(base) as a, SioClient(base) as b:
        router.join("room", to=a.sid)
        assert [c.session_id for c in router.connections("room")] == [a.sid]
        router.leave("room")
        assert router.connections("room") == []
        router.disconnect(skip=a.sid)
        b.disconnected.wait(5)
        assert ["$disconnect"] in b.events and not a.disconnected.is_set()


def test_to_accepts_connections(server):
    router, base = server
    with SioClient(base) as a, SioClient(base) as b:
        conn = [c for c in router.connections() if c.session_id == a.sid][0]
        assert router.emit("e", to=conn) == 1
        assert router.emit("e", to=[conn, b.sid]) == 2
        a.wait_for("e", 2)
        b.wait_for("e", 1)


def test_server_side_emit_alone_calls_back_with_no_answers(server):
    router, _ = server
    answers = gevent.event.AsyncResult()
    router.server_side_emit("hello", callback=answers.set)
    assert answers.get(timeout=1) == []


def test_all_rooms_and_server_count_of_one_server(server):
    router, base = server
    with SioClient(base) as client:
        router.join("r")
        assert router.all_rooms() == {client.sid, "r"} and router.server_count() == 1


def test_connection_data_is_a_dict_of_its_own(server):
    router, base = server
    with SioClient(base), SioClient(base):
        a, b = router.connections()
        a.data["k"] = 1
        assert a.data == {"k": 1} and b.data == {}
        b.data = {"x": [1]}
        assert b.data == {"x": [1]}


class _Session:
    def __init__(self, pending):
        self.pending = pending
        self.pushed = []

    @staticmethod
    def encode_packets(packets):
        return ["items"]

    def push_for(self, conn, items):
        self.pushed.append(items)


class _Conn:
    def __init__(self, sid, pending):
        self.session_id = sid
        self.namespace = "/"
        self.is_closed = False
        self.session = _Session(pending)


def test_a_volatile_broadcast_skips_a_connection_whose_transport_is_busy():
    adapter = InMemoryAdapter()
    idle, busy = _Conn("idle", 0), _Conn("busy", 3)
    adapter.add(idle)
    adapter.add(busy)
    from geventio.protocol import socketio as sio
    packet = sio.Packet(sio.EVENT, "/", ["v"])
    assert adapter.broadcast("/", [packet], BroadcastOptions(volatile=True)) == 1
    assert idle.session.pushed == [["items"]] and busy.session.pushed == []
    assert adapter.broadcast("/", [packet], BroadcastOptions()) == 2


def test_a_local_emit_in_one_process_is_an_emit(server):
    router, base = server
    with SioClient(base) as client:
        assert router.emit("l", local=True, volatile=True) == 1
        client.wait_for("l")
