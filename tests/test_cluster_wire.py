"""node's ClusterAdapter messages as @socket.io/redis-streams-adapter 0.3.x carries them
(geventio.protocol.cluster_wire), and the streams adapter's refusal without patching."""
import base64
import os
import subprocess
import sys

import msgpack

from geventio.protocol import cluster_wire as cw
from geventio.protocol.cluster_wire import MessageType
from helpers import REPO_ROOT


def broadcast(data, rooms=("room1",)):
    return cw.message("99e93aa55f33b408", "/", MessageType.BROADCAST, {
        "packet": {"type": 2, "data": data}, "opts": cw.opts(rooms, [])})


def test_a_broadcast_entry_is_node_s_fields_with_json_data():
    fields = cw.encode_entry(broadcast(["r1", 1]))
    assert list(fields) == ["uid", "nsp", "type", "data"]
    assert fields["type"] == "3"
    assert fields["data"] == ('{"packet":{"type":2,"data":["r1",1]},'
                              '"opts":{"rooms":["room1"],"except":[],"flags":{}}}')


def test_an_entry_holding_binary_is_base64_msgpack():
    fields = cw.encode_entry(broadcast(["bin", b"\x09\x08"], rooms=()))
    assert msgpack.unpackb(base64.b64decode(fields["data"]))["packet"]["data"] == [
        "bin", b"\x09\x08"]
    assert cw.decode_entry({k.encode(): v.encode() for k, v in fields.items()}) == \
        broadcast(["bin", b"\x09\x08"], rooms=())


def test_the_measured_node_entry_decodes():
    raw = {b"uid": b"99e93aa55f33b408", b"nsp": b"/", b"type": b"3",
           b"data": b"gqZwYWNrZXSCpHR5cGUCpGRhdGGSo2JpbsQCCQikb3B0c4Olcm9vbXOQpmV4Y2VwdJClZmxhZ3OA"}
    message = cw.decode_entry(raw)
    assert message["data"]["packet"]["data"] == ["bin", b"\x09\x08"]
    assert message["data"]["opts"] == {"rooms": [], "except": [], "flags": {}}


def test_acked_broadcasts_fetches_and_server_side_emits_are_ephemeral():
    acked = cw.message("u", "/", MessageType.BROADCAST, {"packet": {}, "requestId": "r"})
    assert cw.is_ephemeral(acked)
    assert cw.is_ephemeral(cw.message("u", "/", MessageType.FETCH_SOCKETS, {}))
    assert cw.is_ephemeral(cw.message("u", "/", MessageType.SERVER_SIDE_EMIT, {}))
    assert not cw.is_ephemeral(broadcast(["e"]))
    assert not cw.is_ephemeral(cw.message("u", "/", MessageType.SOCKETS_JOIN, {}))


def test_published_messages_are_whole_msgpack_maps():
    message = cw.message("u", "/", MessageType.FETCH_SOCKETS, {"opts": cw.opts(None, []),
                                                               "requestId": "r"})
    assert cw.decode_published(cw.encode_published(message)) == message


def test_channels_are_node_s():
    assert cw.public_channel("socket.io", "/") == "socket.io#/#"
    assert cw.private_channel("socket.io", "/", "abc") == "socket.io#/#abc#"


def test_offsets_are_stream_ids_and_the_next_one_is_exclusive():
    assert cw.valid_offset("1796569257459-0")
    assert not cw.valid_offset("abc-1") and not cw.valid_offset("1-")
    assert cw.next_offset("1796569257459-0") == "1796569257459-1"


def test_a_session_is_base64_msgpack_of_sid_pid_rooms_data():
    raw = cw.encode_session("sid1", "pid1", ["sid1", "room1"], {"name": "ada"})
    assert list(msgpack.unpackb(base64.b64decode(raw))) == ["sid", "pid", "rooms", "data"]
    assert cw.decode_session(raw) == {"sid": "sid1", "pid": "pid1",
                                      "rooms": ["sid1", "room1"], "data": {"name": "ada"}}


def test_uids_are_16_hex_digits():
    uid = cw.new_id()
    assert len(uid) == 16 and int(uid, 16) >= 0


UNPATCHED = r"""
import sys
import geventio
class C(geventio.SocketConnection):
    pass
try:
    geventio.get_router(C, adapter=geventio.RedisStreamsAdapter("redis://127.0.0.1:1/0"))
except RuntimeError as exc:
    print("refused:", exc)
"""


def test_without_monkey_patching_the_streams_adapter_refuses():
    out = subprocess.run([sys.executable, "-c", UNPATCHED], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert "refused:" in out.stdout and "monkey" in out.stdout, (out.stdout, out.stderr)
