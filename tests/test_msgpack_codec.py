"""protocol/msgpack_parser.py (node's socket.io-msgpack-parser 3.0.x wire) and the
parser='msgpack' setting: exact bytes, what node's checkPacket refuses, notepack's
undefined, the session class the router picks, and geventio without msgpack installed."""
import subprocess
import sys

import msgpack
import pytest

import geventio
from geventio.adapters import BroadcastOptions, InMemoryAdapter
from geventio.protocol import msgpack_parser as mp
from geventio.protocol import socketio as sio
from geventio.protocol.engineio import ProtocolError
from geventio.sockets import SocketIOSession, msgpack_session_class


def test_an_event_is_one_map_with_type_data_nsp_and_id():
    wire = mp.encode(sio.Packet(sio.EVENT, "/", ["a"]))
    assert wire == b"\x83\xa4type\x02\xa4data\x91\xa1a\xa3nsp\xa1/"
    wire = mp.encode(sio.Packet(sio.ACK, "/chat", [1], 7))
    assert msgpack.unpackb(wire) == {"type": 3, "data": [1], "nsp": "/chat", "id": 7}


def test_bytes_stay_bin_inside_the_data_and_come_back_as_bytes():
    packet = sio.Packet(sio.EVENT, "/", ["up", b"\x00\xff", {"k": [bytearray(b"ab"),
                                                                   memoryview(b"cd")]}])
    wire = mp.encode(packet)
    assert b"\xc4\x02\x00\xff" in wire  # bin 8, not a placeholder
    decoded = mp.decode(wire)
    assert decoded == sio.Packet(sio.EVENT, "/", ["up", b"\x00\xff", {"k": [b"ab", b"cd"]}])


def test_binary_packet_types_travel_as_event_and_ack():
    wire = mp.encode(sio.Packet(sio.BINARY_EVENT, "/", ["x", b"1"]))
    assert msgpack.unpackb(wire)["type"] == 2
    wire = mp.encode(sio.Packet(sio.BINARY_ACK, "/", [b"1"], 3))
    assert msgpack.unpackb(wire)["type"] == 3


def test_absent_data_and_id_are_left_out():
    assert msgpack.unpackb(mp.encode(sio.Packet(sio.DISCONNECT, "/a"))) == {
        "type": 1, "nsp": "/a"}
    assert msgpack.unpackb(mp.encode(sio.connect_ack("/", "sid1"))) == {
        "type": 0, "data": {"sid": "sid1"}, "nsp": "/"}


@pytest.mark.parametrize("packet", [
    sio.Packet(sio.CONNECT, "/", {"token": "x", "n": [1, 2.5, None, True]}),
    sio.Packet(sio.CONNECT, "/admin"),
    sio.Packet(sio.DISCONNECT, "/"),
    sio.Packet(sio.EVENT, "/", ["é😀", {"deep": [[[]]]}, -(2 ** 53) + 1], 0),
    sio.Packet(sio.ACK, "/", [], 2 ** 53 - 1),
    sio.Packet(sio.CONNECT_ERROR, "/", {"message": "no", "data": {"why": 1}}),
    sio.Packet(sio.CONNECT_ERROR, "/", "refused"),
])
def test_round_trip(packet):
    assert mp.decode(mp.encode(packet)) == packet


def test_notepack_undefined_inside_arrays_decodes_as_none():
    # [ "ev", undefined ] as notepack.io writes it: fixext 1, type 0, data 0
    wire = msgpack.packb({"type": 2, "nsp": "/", "data": ["ev"]})
    wire = wire.replace(b"\x91\xa2ev", b"\x92\xa2ev\xd4\x00\x00")
    assert mp.decode(wire).data == ["ev", None]


@pytest.mark.parametrize("obj, message", [
    ([2, "/"], "a map"),
    ({"type": 5, "nsp": "/", "data": ["x"]}, "invalid packet type"),
    ({"type": "2", "nsp": "/", "data": ["x"]}, "invalid packet type"),
    ({"type": 2.0, "nsp": "/", "data": ["x"]}, "invalid packet type"),
    ({"type": 2, "data": ["x"]}, "invalid namespace"),
    ({"type": 2, "nsp": 1, "data": ["x"]}, "invalid namespace"),
    ({"type": 2, "nsp": "/", "data": "x"}, "invalid payload"),
    ({"type": 2, "nsp": "/"}, "invalid payload"),
    ({"type": 2, "nsp": "/", "data": []}, "needs its name"),
    ({"type": 3, "nsp": "/", "data": {}}, "invalid payload"),
    ({"type": 0, "nsp": "/", "data": ["x"]}, "invalid payload"),
    ({"type": 1, "nsp": "/", "data": {}}, "invalid payload"),
    ({"type": 4, "nsp": "/", "data": 3}, "invalid payload"),
    ({"type": 2, "nsp": "/", "data": ["x"], "id": "1"}, "invalid packet id"),
    ({"type": 2, "nsp": "/", "data": ["x"], "id": 1.5}, "invalid packet id"),
])
def test_what_nodes_check_packet_refuses_is_refused(obj, message):
    with pytest.raises(ProtocolError, match=message):
        mp.decode(msgpack.packb(obj))


def test_text_messages_and_garbage_are_refused():
    with pytest.raises(ProtocolError, match="binary only"):
        mp.decode('2["x"]')
    with pytest.raises(ProtocolError, match="invalid msgpack"):
        mp.decode(b"\xc1")
    with pytest.raises(ProtocolError, match="invalid msgpack"):
        mp.decode(b"\x83\xa4type")  # truncated


class Chat(geventio.SocketConnection):
    pass


def test_the_router_picks_the_msgpack_session_class_once():
    router = geventio.get_router(Chat, {"parser": "msgpack"})
    cls = router.engine_session_class
    assert issubclass(cls, SocketIOSession) and cls is not SocketIOSession
    assert router.context.engine_session_class is cls
    assert cls is msgpack_session_class(SocketIOSession)  # one class per base
    assert geventio.get_router(Chat).engine_session_class is SocketIOSession
    items = cls.encode_packets([sio.Packet(sio.EVENT, "/", ["a", b"\x01"]),
                                sio.Packet(sio.EVENT, "/", ["b"])])
    assert [mp.decode(i).data for i in items] == [["a", b"\x01"], ["b"]]
    assert [mp.decode(i).data for i in cls.encode_message(["x", "y"], "/n")] == [
        ["message", "x"], ["message", "y"]]


def test_an_unknown_parser_is_refused():
    with pytest.raises(ValueError, match="parser must be"):
        geventio.get_router(Chat, {"parser": "cbor"})


def test_a_broadcast_encodes_once_per_session_class_and_parser():
    calls = []
    msgpack_cls = msgpack_session_class(SocketIOSession)

    class Conn:
        is_closed = False

        def __init__(self, session):
            self.session = session
            self.namespace = "/"
            self.session_id = str(id(self))
            self.rooms = set()

    def fake_session_class(base):
        """Stands for ``base`` in the adapter: counts its encodings, records its pushes."""
        def encode_packets(packets):
            calls.append(base)
            return base.encode_packets(packets)

        def __init__(self):
            self.pushed = []

        def push_for(self, conn, items):
            self.pushed.append(items)
        return type("Fake" + base.__name__, (), {
            "encode_packets": staticmethod(encode_packets), "__init__": __init__,
            "push_for": push_for})

    classes = {base: fake_session_class(base) for base in (SocketIOSession, msgpack_cls)}
    adapter = InMemoryAdapter()
    conns = [Conn(classes[base]()) for base in
             (SocketIOSession, msgpack_cls, SocketIOSession, msgpack_cls)]
    for conn in conns:
        adapter.add(conn)
    adapter.broadcast("/", (sio.Packet(sio.EVENT, "/", ["news", b"\x07"]),),
                      BroadcastOptions())
    assert sorted(map(id, calls)) == sorted(map(id, [SocketIOSession, msgpack_cls]))
    default_items, msgpack_items = conns[0].session.pushed[0], conns[1].session.pushed[0]
    assert conns[2].session.pushed[0] is default_items
    assert conns[3].session.pushed[0] is msgpack_items
    assert mp.decode(msgpack_items[0]).data == ["news", b"\x07"]


def test_geventio_works_without_msgpack_until_the_setting_asks_for_it():
    code = """
import sys
sys.modules['msgpack'] = None  # as if not installed
import geventio
class C(geventio.SocketConnection):
    pass
geventio.get_router(C)
assert 'msgpack' not in [m for m in sys.modules if sys.modules[m] is not None]
try:
    geventio.get_router(C, {'parser': 'msgpack'})
except ImportError as exc:
    print('ImportError:', exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "parser='msgpack' needs the msgpack package: pip install msgpack" in out.stdout


class Echo(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        self.join("all")

    @geventio.event
    def echo(self, *args):
        return args

    @geventio.event
    def shout(self, data):
        self.router.emit("news", data, to="all")


def test_the_test_client_speaks_the_routers_msgpack_parser():
    from geventio.testing import TestClient
    router = geventio.get_router(Echo, {"parser": "msgpack"})
    with TestClient(router, auth={"t": 1}) as a, TestClient(router) as b:
        assert a.connected and b.connected
        assert a.call("echo", "x", b"\x00\x01", {"k": [b"z"]}) == ("x", b"\x00\x01",
                                                                   {"k": [b"z"]})
        a.emit("shout", b"\xff")
        assert b.received(wait=2) == [("news", b"\xff")]
        assert a.received(wait=2) == [("news", b"\xff")]
