"""The socket.io 0.6 codec, against the vectors of the shipped JavaScript codec."""
import pytest

from geventio.protocol import legacy as codec
from geventio.protocol.legacy import Heartbeat, JsonMessage, Message, ProtocolError


def test_text_message_is_framed_with_its_length():
    assert codec.encode_message("abc") == ["~m~3~m~abc"]


def test_a_list_is_several_messages():
    assert codec.encode_payload(codec.encode_message(["abcde", "123456789"])) == \
        "~m~5~m~abcde~m~9~m~123456789"


def test_empty_string_is_an_empty_frame():
    assert codec.encode_message("") == ["~m~0~m~"]


def test_none_sends_nothing():
    assert codec.encode_message(None) == []


def test_dict_becomes_a_json_message():
    assert codec.encode_message({"nick": "bob"}) == ['~m~17~m~~j~{"nick":"bob"}']


def test_heartbeat_frame():
    assert codec.encode_heartbeat(1) == "~m~4~m~~h~1"


def test_length_counts_utf16_code_units_not_code_points_or_bytes():
    assert codec.encode_message("héllo😀") == ["~m~7~m~héllo😀"]
    assert codec.encode_message("абв") == ["~m~3~m~абв"]
    assert codec.encode_message("😀") == ["~m~2~m~😀"]


def test_json_keeps_non_ascii_and_counts_utf16():
    assert codec.encode_message({"a": "é"}) == ['~m~12~m~~j~{"a":"é"}']


def test_text_that_looks_like_a_frame_is_still_text():
    assert codec.encode_message("~m~") == ["~m~3~m~~m~"]
    assert codec.decode_payload("~m~3~m~~m~") == [Message("~m~")]


def test_decode_two_frames_in_order():
    assert codec.decode_payload("~m~5~m~abcde~m~9~m~123456789") == [
        Message("abcde"), Message("123456789")]


def test_decode_non_bmp_frame_followed_by_another():
    assert codec.decode_payload("~m~2~m~😀~m~1~m~x") == [Message("😀"), Message("x")]


def test_decode_mixed_astral_and_bmp_text():
    assert codec.decode_payload("~m~7~m~héllo😀~m~4~m~é中😀") == [
        Message("héllo😀"), Message("é中😀")]


def test_decode_heartbeat_and_json_and_text_all_delivered():
    frames = codec.decode_payload('~m~4~m~~h~3~m~12~m~~j~{"a":[1]}~m~2~m~hi')
    assert frames == [Heartbeat(3), JsonMessage({"a": [1]}), Message("hi")]


def test_decode_empty_payload_is_no_frames():
    assert codec.decode_payload("") == []


@pytest.mark.parametrize("payload", [
    "~m~3~m~abcXYZ",        # trailing garbage
    "garbage",              # no frame marker
    "~m~x~m~abc",           # non-numeric length
    "~m~~m~abc",            # empty length
    "~m~10~m~abc",          # truncated body
    "~m~3",                 # unterminated length
    "~m~7~m~~j~{bad}",      # invalid JSON
    "~m~4~m~~h~x",          # heartbeat without a number
    "~m~1~m~😀",            # length ends inside a surrogate pair
])
def test_malformed_payloads_raise_protocol_error(payload):
    with pytest.raises(ProtocolError):
        codec.decode_payload(payload)


def test_frame_count_is_bounded():
    with pytest.raises(ProtocolError):
        codec.decode_payload("~m~1~m~x" * 11, max_frames=10)


def test_utf16_len():
    assert codec.utf16_len("abc") == 3
    assert codec.utf16_len("😀x") == 3


def test_jsonp_body_matches_the_reference_shape():
    assert codec.jsonp_body(0, "~m~16~m~4716358120911486") == \
        'io.JSONP[0]._("~m~16~m~4716358120911486");'


def test_jsonp_body_cannot_end_the_script_block():
    body = codec.jsonp_body(0, "~m~14~m~héllo</script>")
    assert "</script>" not in body
    assert body == 'io.JSONP[0]._("~m~14~m~héllo<\\/script>");'


def test_script_string_escapes_line_separators_and_comments():
    assert codec.script_string("a\u2028b\u2029<!--") == '"a\\u2028b\\u2029<\\!--"'


def test_htmlfile_chunk_quotes_like_json():
    assert codec.htmlfile_chunk('~m~3~m~a"b') == \
        '<script>parent.s._("~m~3~m~a\\"b", document);</script>'


def test_htmlfile_preamble_is_256_bytes():
    assert len(codec.HTMLFILE_PREAMBLE.encode()) == 256
