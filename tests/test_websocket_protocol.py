"""Sans-I/O WebSocket codecs: handshake answers and framing for RFC 6455 and hixie-76."""
import base64

import pytest
from hypothesis import given, strategies as st

from geventio.protocol.hixie76 import Hixie76Decoder, hixie76_answer, hixie76_frame
from geventio.protocol.rfc6455 import (
    CLOSE_INVALID_DATA, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, OP_BINARY, OP_CLOSE, OP_PING,
    OP_TEXT, FrameError, HandshakeError, apply_mask, encode_close_payload,
    encode_frame, frame_header_length, parse_close_payload,
    parse_frame_header, rfc6455_accept, validate_rfc6455_request,
)

# From shared/reference/transcripts-0.6/flashsocket.txt (the node 0.6 reference server).
FLASH_KEY1 = 'nr3 3 7xz0K*2;\\ 68x  3 " ^63'
FLASH_KEY2 = "^1fPG , DM939`8683u\\L48M"
FLASH_KEY3 = b"\x13\xc8v\xe6(\x9a`\x96"
FLASH_ANSWER = b"\xc7\xcf\x1a\xdcZ\xd22\xc8\x83\xcd9h\xda!\x18\x14"  # '\xc8\x83' shown as {utf8:ȃ}

# From shared/reference/transcripts-0.6/websocket.txt.
WS_KEY1 = '7 0"31   1  97  3/6L'
WS_KEY2 = "15 8ELLd')3t549465"
WS_KEY3 = b"\x8a\xf2+ \x12X\xbd\xf1"
WS_ANSWER = b'\x1b#\xdb\\\xa2\x86A\xa8(@;\x07\xeb"|&'


def rfc6455_headers(**overrides):
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    headers.update(overrides)
    return {name: value for name, value in headers.items() if value is not None}


# --------------------------------------------------------------------------- RFC 6455 handshake

def test_accept_key_matches_rfc6455_section_1_3_example():
    # The brief quoted "s3pPLMBiTxaQ9kYGyzdZJAnkP+Q="; RFC 6455 §1.3 gives this value.
    assert rfc6455_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_rfc6455_request_returns_its_key():
    assert validate_rfc6455_request(rfc6455_headers()) == "dGhlIHNhbXBsZSBub25jZQ=="


def test_rfc6455_header_names_are_case_insensitive():
    headers = {name.lower(): value for name, value in rfc6455_headers().items()}
    assert validate_rfc6455_request(headers) == "dGhlIHNhbXBsZSBub25jZQ=="


def test_connection_header_may_list_several_tokens():
    headers = rfc6455_headers(Connection="keep-alive, Upgrade")
    assert validate_rfc6455_request(headers) == "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize("version", ["13", "8", "7"])
def test_versions_13_8_and_7_are_accepted(version):
    assert validate_rfc6455_request(rfc6455_headers(**{"Sec-WebSocket-Version": version}))


def test_missing_version_is_426_upgrade_required_listing_supported_versions():
    with pytest.raises(HandshakeError) as info:
        validate_rfc6455_request(rfc6455_headers(**{"Sec-WebSocket-Version": None}))
    assert info.value.status == "426 Upgrade Required"
    assert ("Sec-WebSocket-Version", "13, 8, 7") in info.value.headers


def test_unsupported_version_is_400_listing_supported_versions():
    with pytest.raises(HandshakeError) as info:
        validate_rfc6455_request(rfc6455_headers(**{"Sec-WebSocket-Version": "99"}))
    assert info.value.status == "400 Bad Request"
    assert ("Sec-WebSocket-Version", "13, 8, 7") in info.value.headers
    assert "99" in str(info.value)


@pytest.mark.parametrize("key", [None, "", "not base64!!", base64.b64encode(b"x" * 15).decode()])
def test_key_that_is_not_base64_of_16_bytes_is_400(key):
    with pytest.raises(HandshakeError) as info:
        validate_rfc6455_request(rfc6455_headers(**{"Sec-WebSocket-Key": key}))
    assert info.value.status == "400 Bad Request"
    assert "Sec-WebSocket-Key" in str(info.value)


def test_request_without_upgrade_websocket_is_400():
    with pytest.raises(HandshakeError, match="Upgrade"):
        validate_rfc6455_request(rfc6455_headers(Upgrade=None))


def test_request_without_connection_upgrade_is_400():
    with pytest.raises(HandshakeError, match="Connection"):
        validate_rfc6455_request(rfc6455_headers(Connection="keep-alive"))


def test_handshake_error_is_a_value_error():
    assert issubclass(HandshakeError, ValueError)


# --------------------------------------------------------------------------- RFC 6455 frames

def test_short_server_text_frame_is_fin_text_unmasked():
    assert encode_frame(OP_TEXT, b"hi") == b"\x81\x02hi"


def test_payload_of_126_bytes_uses_16_bit_length():
    assert encode_frame(OP_BINARY, b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"


def test_payload_of_65536_bytes_uses_64_bit_length():
    assert encode_frame(OP_BINARY, b"x" * 65536)[:10] == b"\x82\x7f" + (65536).to_bytes(8, "big")


def test_masked_frame_round_trips_through_header_parser():
    frame = encode_frame(OP_TEXT, b"Hello", mask=b"\x37\xfa\x21\x3d")
    # RFC 6455 §5.7: a single-frame masked text message containing "Hello".
    assert frame == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    header = parse_frame_header(frame[:frame_header_length(frame[:2])])
    assert (header.fin, header.opcode, header.length, header.mask) == \
        (True, OP_TEXT, 5, b"\x37\xfa\x21\x3d")
    assert apply_mask(frame[6:], header.mask) == b"Hello"


@given(st.one_of(st.binary(max_size=300), st.binary(min_size=250, max_size=5000)),
       st.binary(min_size=4, max_size=4))
def test_apply_mask_xors_byte_i_with_key_byte_i_mod_4(data, key):
    # RFC 6455 §5.3, written out byte by byte: short and long payloads take different paths.
    expected = bytes(byte ^ key[i % 4] for i, byte in enumerate(data))
    assert apply_mask(data, key) == expected
    assert apply_mask(memoryview(bytearray(data)), bytearray(key)) == expected
    assert type(apply_mask(data, key)) is bytes


def test_header_length_counts_extended_length_and_mask():
    assert frame_header_length(b"\x81\x05") == 2
    assert frame_header_length(b"\x81\x85") == 6
    assert frame_header_length(b"\x82\xfe") == 8
    assert frame_header_length(b"\x82\xff") == 14


def test_huge_64_bit_length_is_parsed_without_allocating():
    header = parse_frame_header(b"\x82\xff" + (2 ** 62).to_bytes(8, "big") + b"abcd")
    assert header.length == 2 ** 62


def test_64_bit_length_with_top_bit_set_is_a_protocol_error():
    with pytest.raises(FrameError) as info:
        parse_frame_header(b"\x82\x7f" + (2 ** 63).to_bytes(8, "big"))
    assert info.value.close_code == CLOSE_PROTOCOL_ERROR


def test_reserved_bits_are_a_protocol_error_naming_byte_0():
    with pytest.raises(FrameError, match="byte 0"):
        parse_frame_header(b"\xc1\x00")


def test_unknown_opcode_is_a_protocol_error():
    with pytest.raises(FrameError, match="opcode 0x3"):
        parse_frame_header(b"\x83\x00")


def test_fragmented_control_frame_is_a_protocol_error():
    with pytest.raises(FrameError, match="fragmented"):
        parse_frame_header(b"\x09\x00")


def test_control_frame_over_125_bytes_is_a_protocol_error():
    with pytest.raises(FrameError, match="125"):
        parse_frame_header(b"\x89\x7e\x00\x7e")


def test_close_payload_carries_code_and_utf8_reason():
    payload = encode_close_payload(1000, "bye é")
    assert payload == b"\x03\xe8" + "bye é".encode()
    assert parse_close_payload(payload) == (1000, "bye é")


def test_close_reason_is_cut_to_fit_a_control_frame_without_splitting_characters():
    payload = encode_close_payload(1000, "é" * 100)
    assert len(payload) <= 125
    assert parse_close_payload(payload)[1] == "é" * 61


def test_unsendable_close_code_gives_empty_close_payload():
    assert encode_close_payload(1005) == b""
    assert encode_frame(OP_CLOSE, encode_close_payload(None)) == b"\x88\x00"


def test_empty_close_payload_has_no_code():
    assert parse_close_payload(b"") == (None, "")


@pytest.mark.parametrize("payload", [b"\x03", b"\x03\xed", b"\x00\x00"])
def test_malformed_close_payload_is_a_protocol_error(payload):
    with pytest.raises(FrameError) as info:
        parse_close_payload(payload)
    assert info.value.close_code == CLOSE_PROTOCOL_ERROR


def test_close_reason_that_is_not_utf8_is_invalid_data():
    with pytest.raises(FrameError) as info:
        parse_close_payload(b"\x03\xe8\xff")
    assert info.value.close_code == CLOSE_INVALID_DATA


def test_ping_frame_encodes_its_payload():
    assert encode_frame(OP_PING, b"x") == b"\x89\x01x"


# --------------------------------------------------------------------------- hixie-76 handshake

def test_hixie76_answer_matches_flashsocket_transcript():
    assert hixie76_answer(FLASH_KEY1, FLASH_KEY2, FLASH_KEY3) == FLASH_ANSWER


def test_hixie76_answer_matches_websocket_transcript():
    assert hixie76_answer(WS_KEY1, WS_KEY2, WS_KEY3) == WS_ANSWER


def test_hixie76_answer_matches_the_draft_76_example():
    assert hixie76_answer("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", b"^n:ds[4U") == \
        b"8jKS'y:G*Co,Wxa-"


def test_hixie76_key_without_spaces_is_rejected_naming_the_key():
    with pytest.raises(HandshakeError, match="Key1.*no spaces"):
        hixie76_answer("12345", WS_KEY2, WS_KEY3)


def test_hixie76_key_not_divisible_by_its_spaces_is_rejected():
    with pytest.raises(HandshakeError, match="integral multiple"):
        hixie76_answer(WS_KEY1, "1 2 3", WS_KEY3)  # 123 / 2 spaces


def test_hixie76_key_number_over_32_bits_is_rejected():
    with pytest.raises(HandshakeError, match="32 bits"):
        hixie76_answer("4294967296 ", WS_KEY2, WS_KEY3)


def test_hixie76_key_without_digits_is_rejected():
    with pytest.raises(HandshakeError, match="no digits"):
        hixie76_answer(WS_KEY1, "a b", WS_KEY3)


@pytest.mark.parametrize("key3", [b"", b"1234567", b"123456789"])
def test_hixie76_key3_must_be_8_bytes(key3):
    with pytest.raises(HandshakeError, match="8 bytes"):
        hixie76_answer(WS_KEY1, WS_KEY2, key3)


# --------------------------------------------------------------------------- hixie-76 frames

def test_hixie76_frame_wraps_utf8_in_0x00_and_0xff():
    assert hixie76_frame("~m~4~m~é中😀") == b"\x00~m~4~m~" + "é中😀".encode() + b"\xff"


def test_decoder_returns_a_whole_message():
    assert Hixie76Decoder(100).feed(b"\x00~m~5~m~hello\xff") == ["~m~5~m~hello"]


def test_decoder_reassembles_a_message_split_across_feeds():
    decoder = Hixie76Decoder(100)
    data = hixie76_frame("é中😀 split")
    assert [decoder.feed(data[i:i + 1]) for i in range(len(data))][-1] == ["é中😀 split"]


def test_decoder_returns_nothing_until_the_frame_ends():
    decoder = Hixie76Decoder(100)
    assert decoder.feed(b"\x00abc") == []
    assert decoder.feed(b"def\xff") == ["abcdef"]


def test_decoder_returns_several_messages_from_one_feed():
    assert Hixie76Decoder(100).feed(b"\x00one\xff\x00two\xff\x00\xff") == ["one", "two", ""]


def test_decoder_marks_closed_on_the_closing_handshake():
    decoder = Hixie76Decoder(100)
    assert decoder.feed(b"\x00last\xff\xff\x00") == ["last"]
    assert decoder.closed


def test_decoder_marks_closed_when_close_bytes_arrive_separately():
    decoder = Hixie76Decoder(100)
    decoder.feed(b"\xff")
    assert not decoder.closed
    decoder.feed(b"\x00")
    assert decoder.closed


def test_decoder_ignores_bytes_after_the_close():
    decoder = Hixie76Decoder(100)
    assert decoder.feed(b"\xff\x00\x00late\xff") == []


def test_decoder_rejects_a_frame_type_other_than_0x00_naming_its_offset():
    decoder = Hixie76Decoder(100)
    decoder.feed(b"\x00ok\xff")
    with pytest.raises(FrameError, match="byte offset 4") as info:
        decoder.feed(b"\x80\x05hello")
    assert info.value.offset == 4


def test_decoder_rejects_0xff_not_followed_by_0x00():
    with pytest.raises(FrameError, match="byte offset 1"):
        Hixie76Decoder(100).feed(b"\xff\x01")


def test_decoder_rejects_invalid_utf8_naming_the_bad_byte():
    with pytest.raises(FrameError, match="byte offset 3.*UTF-8") as info:
        Hixie76Decoder(100).feed(b"\x00ab\xc3(\xff")
    assert info.value.close_code == CLOSE_INVALID_DATA


def test_decoder_accepts_a_message_of_exactly_max_message_size():
    assert Hixie76Decoder(5).feed(b"\x00hello\xff") == ["hello"]


def test_decoder_rejects_an_oversize_message_before_it_ends():
    decoder = Hixie76Decoder(5)
    decoder.feed(b"\x00hel")
    with pytest.raises(FrameError, match="max_message_size") as info:
        decoder.feed(b"lo!")  # no 0xFF yet: refused while still streaming
    assert info.value.close_code == CLOSE_TOO_BIG


def test_decoder_never_buffers_more_than_max_message_size():
    decoder = Hixie76Decoder(1000)
    with pytest.raises(FrameError):
        decoder.feed(b"\x00" + b"x" * 10 ** 6)
    assert len(decoder._buffer) <= 1000


def test_frame_error_is_a_value_error():
    assert issubclass(FrameError, ValueError)
