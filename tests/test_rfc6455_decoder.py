"""The RFC 6455 frame decoder (geventio.protocol.rfc6455.FrameDecoder), as a specification.

What a client sends, fed in any split, gives the same messages and control frames; what breaks
RFC 6455 is refused with the close code the RFC gives (1002 protocol error, 1007 invalid data,
1009 too big), as soon as the bytes that break it have arrived.
"""
import struct

import pytest
from hypothesis import given, settings, strategies as st

from geventio.protocol.rfc6455 import (
    CLOSE_INVALID_DATA, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, OP_BINARY, OP_CLOSE,
    OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, Close, FrameDecoder, FrameError, Ping, Pong,
    encode_close_payload, encode_frame,
)

MASK = b"\x37\xfa\x21\x3d"


def frame(opcode, payload=b"", fin=True, mask=MASK):
    return encode_frame(opcode, payload, fin=fin, mask=mask)


def decode(data, max_message_size=1_000_000, chunks=None):
    """Every event the decoder gives for ``data``, fed whole or in ``chunks`` (split sizes)."""
    decoder = FrameDecoder(max_message_size)
    events = []
    pieces = [data] if chunks is None else split(data, chunks)
    for piece in pieces:
        decoder.feed(piece)
        while (event := decoder.next_event()) is not None:
            events.append(event)
    return events


def split(data, sizes):
    pieces, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        pieces.append(data[pos:pos + size])
        pos += size
    if pos < len(data):
        pieces.append(data[pos:])
    return pieces


def refusal(data, max_message_size=1_000_000):
    """The FrameError the decoder raises on ``data`` (fed whole)."""
    with pytest.raises(FrameError) as info:
        decode(data, max_message_size)
    return info.value


# --------------------------------------------------------------------------- messages

def test_a_masked_text_frame_is_a_str():
    assert decode(frame(OP_TEXT, "héllo".encode())) == ["héllo"]


def test_a_masked_binary_frame_is_bytes():
    assert decode(frame(OP_BINARY, b"\x00\xff\x10")) == [b"\x00\xff\x10"]


def test_empty_messages_are_delivered():
    assert decode(frame(OP_TEXT) + frame(OP_BINARY)) == ["", b""]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 200_000])
def test_payload_lengths_of_every_header_form_decode(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert decode(frame(OP_BINARY, payload)) == [payload]


def test_fragments_are_assembled_into_one_message():
    data = (frame(OP_TEXT, b"one ", fin=False) + frame(OP_CONTINUATION, b"two ", fin=False)
            + frame(OP_CONTINUATION, b"three"))
    assert decode(data) == ["one two three"]


def test_binary_fragments_are_assembled_into_bytes():
    data = frame(OP_BINARY, b"\x01", fin=False) + frame(OP_CONTINUATION, b"\x02")
    assert decode(data) == [b"\x01\x02"]


def test_control_frames_between_fragments_come_before_the_message():
    data = (frame(OP_TEXT, b"ab", fin=False) + frame(OP_PING, b"p")
            + frame(OP_PONG, b"q") + frame(OP_CONTINUATION, b"cd"))
    assert decode(data) == [Ping(b"p"), Pong(b"q"), "abcd"]


def test_a_code_point_split_across_fragments_decodes():
    raw = "€".encode()  # 3 bytes
    data = frame(OP_TEXT, raw[:1], fin=False) + frame(OP_CONTINUATION, raw[1:])
    assert decode(data) == ["€"]


def test_a_code_point_split_across_chunks_decodes():
    assert decode(frame(OP_TEXT, "😀".encode()), chunks=[1] * 20) == ["😀"]


def test_a_message_of_exactly_max_message_size_is_accepted():
    assert decode(frame(OP_BINARY, b"x" * 100), max_message_size=100) == [b"x" * 100]


# --------------------------------------------------------------------------- any split

def messages():
    """(frames as bytes, the events they give): messages, some fragmented, with pings and
    pongs between the fragments."""
    code_points = st.characters(blacklist_categories=("Cs",))
    text = st.one_of(st.text(code_points, max_size=40),
                     st.text(code_points, min_size=100, max_size=400))  # often >= 256 bytes
    binary = st.one_of(st.binary(max_size=40), st.binary(min_size=126, max_size=300))
    cuts = st.lists(st.integers(0, 60), max_size=3)  # where a message is fragmented
    controls = st.lists(st.sampled_from([OP_PING, OP_PONG]), max_size=3)
    one = st.tuples(st.one_of(text, binary), cuts, controls, st.binary(max_size=4))
    return st.lists(one, min_size=1, max_size=6).map(_encode_messages)


def _encode_messages(items):
    data, events = b"", []
    for message, cuts, controls, mask in items:
        mask = (mask + MASK)[:4]
        opcode = OP_TEXT if isinstance(message, str) else OP_BINARY
        raw = message.encode() if isinstance(message, str) else message
        bounds = sorted({min(cut, len(raw)) for cut in cuts})
        parts = [raw[a:b] for a, b in zip([0] + bounds, bounds + [len(raw)], strict=True)]
        for index, part in enumerate(parts):
            if index and controls:
                control = controls.pop()
                data += frame(control, b"c%d" % index, mask=mask)
                events.append((Ping if control == OP_PING else Pong)(b"c%d" % index))
            data += frame(opcode if index == 0 else OP_CONTINUATION, part,
                          fin=index == len(parts) - 1, mask=mask)
        events.append(message)
    return data, events


@given(messages())
def test_fed_whole_the_frames_give_their_messages(case):
    data, events = case
    assert decode(data) == events


@given(messages())
def test_fed_byte_by_byte_gives_the_same_events_as_whole(case):
    data, events = case
    assert decode(data, chunks=[1] * len(data)) == events


@given(messages(), st.lists(st.integers(1, 400), max_size=40))
def test_fed_in_random_splits_gives_the_same_events_as_whole(case, sizes):
    data, events = case
    assert decode(data, chunks=sizes) == events


@settings(max_examples=20)
@given(st.lists(st.integers(1, 20_000), min_size=1, max_size=30))
def test_a_big_frame_fed_in_random_chunks_is_whole(sizes):
    payload = bytes(range(256)) * 400  # 102,400 bytes
    assert decode(frame(OP_BINARY, payload) + frame(OP_TEXT, b"after"), chunks=sizes) == [
        payload, "after"]


def test_a_big_frame_is_unmasked_with_the_key_byte_of_each_position():
    # independent of encode_frame's masking: the RFC 6455 §5.3 XOR, written out
    payload = bytes(range(256)) * 9 + b"tail"
    masked = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(payload))
    header = b"\x82\xfe" + struct.pack("!H", len(payload)) + MASK
    assert decode(header + masked) == [payload]
    text = ("ünïcödé " * 300).encode()
    masked = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(text))
    header = b"\x81\xfe" + struct.pack("!H", len(text)) + MASK
    assert decode(header + masked) == [text.decode()]


# --------------------------------------------------------------------------- what is needed

def test_needed_asks_for_the_first_two_bytes_of_a_frame():
    decoder = FrameDecoder()
    assert decoder.next_event() is None
    assert decoder.needed == 2


def test_needed_asks_for_the_rest_of_a_header():
    decoder = FrameDecoder()
    decoder.feed(frame(OP_BINARY, b"x" * 300)[:3])  # 2 + 2 (16-bit length) + 4 (mask)
    assert decoder.next_event() is None
    assert decoder.needed == 5


def test_needed_asks_for_the_rest_of_the_payload():
    decoder = FrameDecoder()
    decoder.feed(frame(OP_BINARY, b"x" * 100_000)[:1000])
    assert decoder.next_event() is None
    assert decoder.needed == 14 + 100_000 - 1000


def test_needed_is_two_again_once_a_frame_was_delivered():
    decoder = FrameDecoder()
    data = frame(OP_BINARY, b"x" * 50)
    decoder.feed(data[:10])
    assert decoder.next_event() is None
    decoder.feed(data[10:])
    assert decoder.next_event() == b"x" * 50
    assert decoder.next_event() is None
    assert decoder.needed == 2


def test_buffered_counts_the_bytes_not_decoded_yet():
    decoder = FrameDecoder()
    decoder.feed(frame(OP_TEXT, b"a") + b"\x81")
    assert decoder.buffered == 8
    assert decoder.next_event() == "a"
    assert decoder.buffered == 1


# --------------------------------------------------------------------------- close frames

def test_a_close_frame_gives_its_code_and_reason():
    assert decode(frame(OP_CLOSE, encode_close_payload(1001, "bye"))) == [Close(1001, "bye")]


def test_an_empty_close_frame_has_no_code():
    assert decode(frame(OP_CLOSE)) == [Close(None, "")]


def test_nothing_is_decoded_after_the_close_frame():
    decoder = FrameDecoder()
    decoder.feed(frame(OP_CLOSE) + frame(OP_TEXT, b"late"))
    assert decoder.next_event() == Close(None, "")
    decoder.feed(frame(OP_TEXT, b"later"))
    assert decoder.closed
    assert decoder.next_event() is None


def test_a_one_byte_close_payload_is_a_protocol_error():
    assert refusal(frame(OP_CLOSE, b"\x03")).close_code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_a_close_code_that_may_not_be_sent_is_a_protocol_error(code):
    assert refusal(frame(OP_CLOSE, struct.pack("!H", code))).close_code == CLOSE_PROTOCOL_ERROR


def test_a_close_reason_that_is_not_utf8_is_invalid_data():
    error = refusal(frame(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"))
    assert error.close_code == CLOSE_INVALID_DATA
    assert "reason" in str(error)


# --------------------------------------------------------------------------- refusals: 1002

def test_an_unmasked_frame_is_a_protocol_error():
    error = refusal(frame(OP_TEXT, b"hi", mask=None))
    assert error.close_code == CLOSE_PROTOCOL_ERROR
    assert "masked" in str(error)


@pytest.mark.parametrize("bit", [0x40, 0x20, 0x10])
def test_a_reserved_bit_is_a_protocol_error(bit):
    data = bytearray(frame(OP_TEXT, b"hi"))
    data[0] |= bit
    error = refusal(bytes(data))
    assert error.close_code == CLOSE_PROTOCOL_ERROR
    assert "reserved bits" in str(error)


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_an_unknown_opcode_is_a_protocol_error(opcode):
    error = refusal(frame(opcode, b"x"))
    assert error.close_code == CLOSE_PROTOCOL_ERROR
    assert "opcode 0x%x" % opcode in str(error)


def test_a_continuation_with_no_message_to_continue_is_a_protocol_error():
    error = refusal(frame(OP_CONTINUATION, b"x"))
    assert error.close_code == CLOSE_PROTOCOL_ERROR
    assert "no message to continue" in str(error)


def test_a_new_message_inside_an_unfinished_one_is_a_protocol_error():
    error = refusal(frame(OP_TEXT, b"a", fin=False) + frame(OP_BINARY, b"b"))
    assert error.close_code == CLOSE_PROTOCOL_ERROR
    assert "inside an unfinished fragmented message" in str(error)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_a_fragmented_control_frame_is_a_protocol_error(opcode):
    error = refusal(frame(opcode, b"", fin=False))
    assert error.close_code == CLOSE_PROTOCOL_ERROR
    assert "fragmented" in str(error)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_a_control_frame_over_125_bytes_is_a_protocol_error(opcode):
    error = refusal(frame(opcode, b"x" * 126))
    assert error.close_code == CLOSE_PROTOCOL_ERROR
    assert "exceeds 125" in str(error)


def test_a_control_frame_of_125_bytes_is_accepted():
    assert decode(frame(OP_PING, b"x" * 125)) == [Ping(b"x" * 125)]


def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error():
    data = b"\x82\xff" + struct.pack("!Q", 1 << 63) + MASK
    assert refusal(data).close_code == CLOSE_PROTOCOL_ERROR


def test_a_bad_header_is_refused_before_its_payload_arrives():
    decoder = FrameDecoder()
    decoder.feed(frame(OP_TEXT, b"x" * 1000, mask=None)[:4])
    with pytest.raises(FrameError):
        decoder.next_event()


# --------------------------------------------------------------------------- refusals: 1007

def test_invalid_utf8_in_a_text_frame_is_invalid_data():
    error = refusal(frame(OP_TEXT, b"ok \xff"))
    assert error.close_code == CLOSE_INVALID_DATA
    assert "invalid UTF-8" in str(error) and "byte 3" in str(error)


def test_invalid_utf8_in_a_big_text_frame_is_invalid_data():
    assert refusal(frame(OP_TEXT, b"a" * 300 + b"\xc0\x80")).close_code == CLOSE_INVALID_DATA


def test_invalid_utf8_in_a_first_fragment_is_refused_before_the_message_ends():
    error = refusal(frame(OP_TEXT, b"ok", fin=False) + frame(OP_CONTINUATION, b"\xff",
                                                            fin=False))
    assert error.close_code == CLOSE_INVALID_DATA
    assert "byte 2" in str(error)


def test_a_code_point_cut_off_by_the_last_fragment_is_invalid_data():
    data = frame(OP_TEXT, b"a", fin=False) + frame(OP_CONTINUATION, "€".encode()[:2])
    assert refusal(data).close_code == CLOSE_INVALID_DATA


def test_invalid_utf8_split_across_chunks_is_invalid_data():
    with pytest.raises(FrameError) as info:
        decode(frame(OP_TEXT, b"abc\xed\xa0\x80"), chunks=[1] * 20)  # a UTF-16 surrogate
    assert info.value.close_code == CLOSE_INVALID_DATA


def test_binary_messages_are_not_checked_for_utf8():
    assert decode(frame(OP_BINARY, b"\xff\xfe")) == [b"\xff\xfe"]


# --------------------------------------------------------------------------- refusals: 1009

def test_a_frame_over_max_message_size_is_too_big():
    error = refusal(frame(OP_BINARY, b"x" * 101), max_message_size=100)
    assert error.close_code == CLOSE_TOO_BIG
    assert "exceeds max_message_size 100" in str(error)


def test_a_frame_over_max_message_size_is_refused_from_its_header_alone():
    decoder = FrameDecoder(1000)
    decoder.feed(frame(OP_BINARY, b"x" * 100_000)[:14])
    with pytest.raises(FrameError) as info:
        decoder.next_event()
    assert info.value.close_code == CLOSE_TOO_BIG


def test_fragments_adding_up_to_more_than_max_message_size_are_too_big():
    data = frame(OP_TEXT, b"x" * 60, fin=False) + frame(OP_CONTINUATION, b"x" * 60)
    error = refusal(data, max_message_size=100)
    assert error.close_code == CLOSE_TOO_BIG
    assert "at least 120 bytes" in str(error)


def test_control_frames_do_not_count_towards_the_message_size():
    data = (frame(OP_TEXT, b"x" * 60, fin=False) + frame(OP_PING, b"p" * 100)
            + frame(OP_CONTINUATION, b"x" * 40))
    assert decode(data, max_message_size=100) == [Ping(b"p" * 100), "x" * 100]
