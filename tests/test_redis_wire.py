"""The node @socket.io/redis-adapter 8.x wire codec, against bytes captured from node 4.8.4
with redis-adapter 8.3.0 and redis-emitter 5.1.0 (shared/reference/cluster-wire-and-recovery.md
§1.4, §1.5, §1.9)."""
import datetime

import msgpack
import pytest

from geventio.protocol import redis_wire as wire
from geventio.protocol.redis_wire import RequestType

HELLO = bytes.fromhex(
    "93a672363174597183a47479706502a46461746197a568656c6c6fa5776f726c6401cb4004000000000000"
    "c3c081a16b9201a178a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380")
ROOM1 = bytes.fromhex(
    "93a672363174597183a47479706502a46461746192a2723181a16101a36e7370a12f83a5726f6f6d7391a5"
    "726f6f6d31a665786365707490a5666c61677380")
BIN = bytes.fromhex(
    "93a672363174597183a47479706502a46461746193a362696ec40301020381a66e6573746564c4026869a3"
    "6e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380")
EMITTER = bytes.fromhex(
    "93a7656d697474657283a47479706502a46461746192ac66726f6d2d656d697474657211a36e7370a12f83"
    "a5726f6f6d7391a5726f6f6d31a5666c61677380a665786365707490")
BROADCAST_ACK = bytes.fromhex(
    "83a47479706509a9726571756573744964a6377042743462a67061636b6574a8633240422d61636b")
DATE = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)


def test_channels_are_nodes_for_a_key_and_namespace():
    ch = wire.Channels("socket.io", "/admin")
    assert ch.broadcast == "socket.io#/admin#"
    assert ch.pattern == "socket.io#/admin#*"
    assert ch.room("room1") == "socket.io#/admin#room1#"
    assert ch.request == "socket.io-request#/admin#"
    assert ch.response == "socket.io-response#/admin#"
    assert ch.specific_response("r61tYq") == "socket.io-response#/admin#r61tYq#"


def test_one_room_is_published_on_its_channel_several_on_the_namespace_channel():
    ch = wire.Channels("socket.io", "/")
    assert ch.for_rooms(["_40rlXEqL1K7tviIAAAB"]) == "socket.io#/#_40rlXEqL1K7tviIAAAB#"
    assert ch.for_rooms(["room1", "room2"]) == ch.for_rooms([]) == "socket.io#/#"


def test_room_of_a_channel():
    ch = wire.Channels("k", "/")
    assert ch.room_of("k#/#") == ""
    assert ch.room_of("k#/#room1#") == "room1"
    assert ch.room_of("k#/admin#x#") is None


def test_a_broadcast_to_everyone_is_byte_identical_to_nodes():
    data = ["hello", "world", 1, 2.5, True, None, {"k": [1, "x"]}]
    assert wire.encode_broadcast("r61tYq", "/", data) == HELLO


def test_a_broadcast_to_a_room_is_byte_identical_to_nodes():
    assert wire.encode_broadcast("r61tYq", "/", ["r1", {"a": 1}], rooms=["room1"]) == ROOM1


def test_binary_is_msgpack_bin_inside_an_event_packet_of_type_2():
    body = wire.encode_broadcast("r61tYq", "/", ["bin", b"\x01\x02\x03", {"nested": b"hi"}])
    assert body == BIN
    assert msgpack.unpackb(body)[1]["type"] == 2


def test_binary_never_makes_a_type_5_packet():
    body = wire.encode_broadcast("u", "/", ["b", bytearray(b"\x00"), [memoryview(b"\x01")]])
    assert msgpack.unpackb(body)[1]["type"] == 2


def test_several_rooms_and_except_and_flags_end_as_nodes():
    body = wire.encode_broadcast("r61tYq", "/", ["multi"], rooms=["room1", "room2"],
                                 except_rooms=["room3"])
    assert body.endswith(bytes.fromhex(
        "83a5726f6f6d7392a5726f6f6d31a5726f6f6d32a665786365707491a5726f6f6d33a5666c61677380"))
    vol = wire.encode_broadcast("r61tYq", "/", ["vol", 1],
                                flags={"volatile": True, "compress": False})
    assert vol.endswith(bytes.fromhex("a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2"))


def test_a_namespace_broadcast_starts_as_nodes():
    body = wire.encode_broadcast("opWT_1", "/admin", ["adm", "x"])
    assert body.startswith(bytes.fromhex("93a66f7057545f3183"))
    assert bytes.fromhex("a36e7370a62f61646d696e") in body


def test_a_date_is_the_msgpack_timestamp_extension():
    body = wire.encode_broadcast("u", "/", ["date", DATE])
    assert bytes.fromhex("a464617465d7ffa1a5d60065937d25") in body


def test_a_received_date_becomes_the_string_node_clients_see():
    message = wire.decode_broadcast(wire.encode_broadcast("u", "/", ["date", {"at": [DATE]}]))
    assert message.data == ["date", {"at": ["2024-01-02T03:04:05.678Z"]}]


def test_decoding_nodes_broadcasts():
    hello = wire.decode_broadcast(HELLO)
    assert hello == ("r61tYq", "/", ["hello", "world", 1, 2.5, True, None, {"k": [1, "x"]}],
                     [], [], {})
    assert wire.decode_broadcast(ROOM1).rooms == ["room1"]
    assert wire.decode_broadcast(BIN).data == ["bin", b"\x01\x02\x03", {"nested": b"hi"}]


def test_decoding_the_emitters_key_order():
    message = wire.decode_broadcast(EMITTER)
    assert message == ("emitter", "/", ["from-emitter", 17], ["room1"], [], {})


def test_a_packet_without_nsp_and_opts_is_for_everyone_on_the_main_namespace():
    body = msgpack.packb(["x", {"type": 2, "data": ["e", 1]}, {}], use_bin_type=True)
    assert wire.decode_broadcast(body) == ("x", "/", ["e", 1], [], [], {})


@pytest.mark.parametrize("body", [b"\xc1", msgpack.packb([1]), msgpack.packb(
    ["u", {"type": 3, "data": [1]}, {}]), msgpack.packb(["u", {"type": 2, "data": []}, {}])])
def test_what_is_not_an_event_broadcast_is_refused(body):
    with pytest.raises(ValueError):
        wire.decode_broadcast(body)


def test_requests_are_json_exactly_as_node_writes_them():
    fetch = {"uid": "r61tYq", "requestId": "tLwKtx", "type": 5,
             "opts": wire.request_opts([], [])}
    assert wire.encode_request(fetch) == (
        b'{"uid":"r61tYq","requestId":"tLwKtx","type":5,"opts":{"rooms":[],"except":[]}}')
    join = {"uid": "r61tYq", "type": 2, "opts": wire.request_opts(["room1"], []),
            "rooms": ["room9"]}
    assert wire.encode_request(join) == (
        b'{"uid":"r61tYq","type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room9"]}')
    assert wire.encode_request({"type": 6, "requestId": "ybSEvp", "data": "B-pong"}) == (
        b'{"type":6,"requestId":"ybSEvp","data":"B-pong"}')


def test_a_broadcast_with_ack_request_is_msgpack():
    request = {"uid": "r61tYq", "requestId": "7pBt4b", "type": 7,
               "packet": {"type": 2, "data": ["ack-me", 16], "nsp": "/"},
               "opts": {"rooms": [], "except": [], "flags": {"timeout": 1500}}}
    assert wire.encode_request(request).startswith(bytes.fromhex(
        "85a3756964a6723631745971a9726571756573744964a6377042743462a47479706507a67061636b657483"))


def test_a_client_ack_response_is_msgpack_as_nodes():
    response = {"type": 9, "requestId": "7pBt4b", "packet": "c2@B-ack"}
    assert wire.encode_request(response) == BROADCAST_ACK
    assert wire.decode_request(BROADCAST_ACK) == response


def test_a_request_holding_bytes_travels_as_msgpack():
    body = wire.encode_request({"uid": "u", "type": 6, "data": ["e", b"\x00\x01"]})
    assert body[:1] != b"{"
    assert wire.decode_request(body)["data"] == ["e", b"\x00\x01"]


def test_requests_without_uid_decode():
    assert wire.decode_request(b'{"type":2,"opts":{"rooms":["a"]},"rooms":["b"]}') == {
        "type": 2, "opts": {"rooms": ["a"]}, "rooms": ["b"]}
    assert wire.read_opts({"type": 2, "opts": {"rooms": ["a"]}}) == (["a"], [])


def test_malformed_requests_are_refused():
    for body in (b"{nope", b"\xc1", b"[1]"):
        with pytest.raises(ValueError):
            wire.decode_request(body)


def test_request_type_numbers_are_nodes():
    assert [t.value for t in RequestType] == list(range(10))
    assert RequestType.BROADCAST_ACK == 9


def test_uids_are_six_url_safe_characters_like_uid2():
    uids = {wire.new_uid() for _ in range(100)}
    assert len(uids) == 100
    assert all(len(u) == 6 and u.replace("_", "").replace("-", "").isalnum() for u in uids)
