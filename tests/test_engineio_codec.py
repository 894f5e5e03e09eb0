"""Engine.IO codec: vectors from the engine.io-protocol v3/v4 specs and the official suites."""
import pytest

from geventio.protocol import engineio as eio
from geventio.protocol.engineio import Packet, ProtocolError

BIN = b'\x01\x02\x03\x04'


# -- packet type and Packet ---------------------------------------------------------------------

def test_packet_types_have_the_spec_numbers():
    assert [eio.OPEN, eio.CLOSE, eio.PING, eio.PONG, eio.MESSAGE, eio.UPGRADE, eio.NOOP] == \
        list(range(7))


def test_packet_accepts_a_plain_int_type():
    assert Packet(4, 'x').type is eio.MESSAGE


def test_packet_with_unknown_type_is_refused():
    with pytest.raises(ValueError):
        Packet(7)


def test_packet_empty_string_data_is_no_data():
    assert Packet(eio.MESSAGE, '') == Packet(eio.MESSAGE)


def test_packet_bytearray_and_memoryview_data_become_bytes():
    assert Packet(eio.MESSAGE, bytearray(BIN)).data == BIN
    assert Packet(eio.MESSAGE, memoryview(BIN)).data == BIN


def test_packet_binary_flag_follows_data_type():
    assert Packet(eio.MESSAGE, BIN).binary
    assert not Packet(eio.MESSAGE, 'x').binary
    assert not Packet(eio.PING).binary


def test_packet_rejects_non_text_non_bytes_data():
    with pytest.raises(TypeError):
        Packet(eio.MESSAGE, 42)


def test_protocol_error_is_a_value_error_with_reason_and_offset():
    err = ProtocolError('bad thing', 7)
    assert isinstance(err, ValueError)
    assert (err.reason, err.offset) == ('bad thing', 7)
    assert str(err) == 'bad thing at offset 7'


# -- v4 packets ---------------------------------------------------------------------------------

def test_v4_encode_text_packet_is_type_digit_then_data():
    assert eio.encode_packet(Packet(eio.MESSAGE, 'hello')) == '4hello'


def test_v4_encode_packet_without_data_is_the_digit_alone():
    assert eio.encode_packet(Packet(eio.PING)) == '2'
    assert eio.encode_packet(Packet(eio.NOOP)) == '6'


def test_v4_encode_probe_pong():
    assert eio.encode_packet(Packet(eio.PONG, 'probe')) == '3probe'


def test_v4_encode_binary_packet_for_websocket_is_the_raw_bytes():
    assert eio.encode_packet(Packet(eio.MESSAGE, BIN)) == BIN


def test_v4_encode_binary_packet_b64_is_b_and_base64():
    assert eio.encode_packet(Packet(eio.MESSAGE, BIN), b64=True) == 'bAQIDBA=='


def test_v4_encode_binary_packet_of_other_type_is_refused():
    with pytest.raises(ValueError):
        eio.encode_packet(Packet(eio.PING, BIN))


def test_v4_decode_text_packet():
    assert eio.decode_packet('2probe') == Packet(eio.PING, 'probe')


def test_v4_decode_packet_without_data():
    assert eio.decode_packet('3') == Packet(eio.PONG)
    assert eio.decode_packet('3').data is None


def test_v4_decode_binary_frame_is_a_message():
    assert eio.decode_packet(BIN) == Packet(eio.MESSAGE, BIN)


def test_v4_decode_binary_frame_starting_with_a_digit_byte_keeps_all_bytes():
    assert eio.decode_packet(b'\x04abc').data == b'\x04abc'


def test_v4_decode_empty_binary_frame_is_an_empty_binary_message():
    assert eio.decode_packet(b'') == Packet(eio.MESSAGE, b'')


def test_v4_decode_b_prefix_is_a_base64_binary_message():
    assert eio.decode_packet('bAQIDBA==') == Packet(eio.MESSAGE, BIN)


def test_v4_decode_empty_text_is_an_error():
    with pytest.raises(ProtocolError, match='empty packet at offset 0'):
        eio.decode_packet('')


@pytest.mark.parametrize('text', ['7', '9hello', 'x', '-1', ' 4'])
def test_v4_decode_unknown_type_is_an_error_at_offset_0(text):
    with pytest.raises(ProtocolError) as info:
        eio.decode_packet(text)
    assert info.value.offset == 0
    assert 'unknown packet type' in info.value.reason


@pytest.mark.parametrize('text', ['bAQIDBA', 'bAQ-DBA==', 'b!!!!', 'bAQIDBA==x', 'b€€€€'])
def test_v4_decode_bad_base64_is_an_error_at_offset_1(text):
    with pytest.raises(ProtocolError) as info:
        eio.decode_packet(text)
    assert info.value.offset == 1
    assert 'base64' in info.value.reason


# -- v4 payloads --------------------------------------------------------------------------------

def test_v4_encode_payload_joins_packets_with_record_separator():
    packets = [Packet(eio.MESSAGE, 'hello'), Packet(eio.PING), Packet(eio.MESSAGE, '€')]
    assert eio.encode_payload(packets) == '4hello\x1e2\x1e4€'


def test_v4_encode_payload_always_base64s_binary():
    packets = [Packet(eio.MESSAGE, 'hello'), Packet(eio.MESSAGE, BIN)]
    assert eio.encode_payload(packets) == '4hello\x1ebAQIDBA=='


def test_v4_encode_payload_of_one_packet_has_no_separator():
    assert eio.encode_payload([Packet(eio.NOOP)]) == '6'


def test_v4_encode_empty_payload_is_empty_text():
    assert eio.encode_payload([]) == ''


def test_v4_decode_payload_spec_vector():
    assert eio.decode_payload('4hello\x1e2\x1e4€') == [
        Packet(eio.MESSAGE, 'hello'), Packet(eio.PING), Packet(eio.MESSAGE, '€')]


def test_v4_decode_payload_with_text_and_binary_from_the_suite():
    assert eio.decode_payload('4hello\x1ebAQIDBA==') == [
        Packet(eio.MESSAGE, 'hello'), Packet(eio.MESSAGE, BIN)]


def test_v4_payload_round_trip_is_byte_identical_for_the_suite_echo():
    body = '4hello\x1ebAQIDBA=='
    assert eio.encode_payload(eio.decode_payload(body)) == body


def test_v4_decode_payload_error_offset_points_into_the_payload():
    with pytest.raises(ProtocolError) as info:
        eio.decode_payload('4ab\x1e7cd')
    assert info.value.offset == 4


def test_v4_decode_payload_base64_error_offset_points_into_the_payload():
    with pytest.raises(ProtocolError) as info:
        eio.decode_payload('4ab\x1eb!!')
    assert info.value.offset == 5


def test_v4_decode_empty_payload_is_an_error():
    with pytest.raises(ProtocolError, match='empty packet'):
        eio.decode_payload('')


def test_v4_decode_payload_with_empty_segment_is_an_error():
    with pytest.raises(ProtocolError) as info:
        eio.decode_payload('4a\x1e\x1e4b')
    assert info.value.offset == 3


def test_v4_decode_payload_of_garbage_is_an_error():
    with pytest.raises(ProtocolError):
        eio.decode_payload('abc')


def test_v4_decode_payload_has_no_default_packet_cap():
    body = '\x1e'.join(['4x'] * 500)
    assert len(eio.decode_payload(body)) == 500


def test_v4_decode_payload_honours_max_packets():
    assert len(eio.decode_payload('4a\x1e4b', max_packets=2)) == 2
    with pytest.raises(ProtocolError, match='limit of 2'):
        eio.decode_payload('4a\x1e4b\x1e4c', max_packets=2)


def test_v4_decode_payload_refuses_bytes():
    with pytest.raises(TypeError):
        eio.decode_payload(b'4hello')


# -- UTF-16 length ------------------------------------------------------------------------------

@pytest.mark.parametrize('text, units', [
    ('', 0), ('4hello', 6), ('€', 1), ('4€', 2), ('😀', 2), ('4😀', 3), ('a😀€😀', 6)])
def test_utf16_len_counts_code_units_like_javascript(text, units):
    assert eio.utf16_len(text) == units


# -- v3 packets (WebSocket) ---------------------------------------------------------------------

def test_v3_encode_text_packet():
    assert eio.encode_packet_v3(Packet(eio.MESSAGE, 'hey')) == '4hey'


def test_v3_encode_binary_packet_is_type_byte_then_data():
    assert eio.encode_packet_v3(Packet(eio.MESSAGE, BIN)) == b'\x04' + BIN


def test_v3_encode_binary_packet_b64_keeps_the_type_digit():
    assert eio.encode_packet_v3(Packet(eio.MESSAGE, BIN), b64=True) == 'b4AQIDBA=='


def test_v3_decode_binary_frame_reads_the_type_byte():
    assert eio.decode_packet_v3(b'\x04\x01\x02\x03\x04') == Packet(eio.MESSAGE, BIN)


def test_v3_decode_binary_frame_with_only_a_type_byte_has_empty_data():
    assert eio.decode_packet_v3(b'\x04') == Packet(eio.MESSAGE, b'')


def test_v3_decode_empty_binary_frame_is_an_error():
    with pytest.raises(ProtocolError, match='no type byte'):
        eio.decode_packet_v3(b'')


def test_v3_decode_binary_frame_with_unknown_type_byte_is_an_error():
    with pytest.raises(ProtocolError, match='0x34'):
        eio.decode_packet_v3(b'4hello')


def test_v3_decode_text_frame():
    assert eio.decode_packet_v3('2probe') == Packet(eio.PING, 'probe')


def test_v3_decode_base64_text_frame_reads_the_type_digit():
    assert eio.decode_packet_v3('b4AQIDBA==') == Packet(eio.MESSAGE, BIN)


def test_v3_decode_base64_text_frame_with_bad_type_is_an_error_at_offset_1():
    with pytest.raises(ProtocolError) as info:
        eio.decode_packet_v3('b9AQIDBA==')
    assert info.value.offset == 1


# -- v3 text payloads ---------------------------------------------------------------------------

def test_v3_text_payload_spec_vector_counts_characters_not_bytes():
    packets = [Packet(eio.MESSAGE, 'hello'), Packet(eio.MESSAGE, '€')]
    assert eio.encode_payload_v3(packets, b64=True) == '6:4hello2:4€'


def test_v3_text_payload_counts_astral_characters_as_two_units():
    assert eio.encode_payload_v3([Packet(eio.MESSAGE, '😀')], b64=True) == '3:4😀'


def test_v3_decode_text_payload_spec_vector():
    assert eio.decode_payload_v3('6:4hello2:4€') == [
        Packet(eio.MESSAGE, 'hello'), Packet(eio.MESSAGE, '€')]


def test_v3_decode_text_payload_with_astral_characters():
    assert eio.decode_payload_v3('3:4😀5:4a😀b6:4hello') == [
        Packet(eio.MESSAGE, '😀'), Packet(eio.MESSAGE, 'a😀b'), Packet(eio.MESSAGE, 'hello')]


def test_v3_decode_text_payload_from_the_suite():
    assert eio.decode_payload_v3('6:4test16:4test26:4test3') == [
        Packet(eio.MESSAGE, 'test1'), Packet(eio.MESSAGE, 'test2'), Packet(eio.MESSAGE, 'test3')]


def test_v3_encode_handshake_payload_spec_vector():
    data = ('{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
            '"pingInterval":25000,"pingTimeout":5000}')
    assert eio.encode_payload_v3([Packet(eio.OPEN, data)], b64=False) == '96:0' + data


def test_v3_empty_payload_is_0_colon():
    assert eio.encode_payload_v3([], b64=True) == '0:'
    assert eio.encode_payload_v3([], b64=False) == '0:'


def test_v3_decode_0_colon_is_no_packets():
    assert eio.decode_payload_v3('0:') == []


def test_v3_text_payload_with_binary_and_b64_spec_vector():
    packets = [Packet(eio.MESSAGE, '€'), Packet(eio.MESSAGE, BIN)]
    assert eio.encode_payload_v3(packets, b64=True) == '2:4€10:b4AQIDBA=='


def test_v3_decode_text_payload_with_base64_packet():
    assert eio.decode_payload_v3('6:4hello10:b4AQIDBA==') == [
        Packet(eio.MESSAGE, 'hello'), Packet(eio.MESSAGE, BIN)]


def test_v3_text_only_packets_stay_text_when_client_supports_binary():
    # The EIO3 suite expects a text handshake even without b64=1 (python-engineio 3.x sent binary).
    assert eio.encode_payload_v3([Packet(eio.MESSAGE, 'hello')], b64=False) == '6:4hello'


@pytest.mark.parametrize('body, offset', [
    ('a:4hello', 0), (':4hello', 0), ('6x4hello', 1), ('6:4hello4', 8), ('-1:4', 0),
    ('6:4hello 1:2', 8)])
def test_v3_decode_bad_length_prefix_is_an_error(body, offset):
    with pytest.raises(ProtocolError) as info:
        eio.decode_payload_v3(body)
    assert info.value.offset == offset


def test_v3_decode_overlong_length_prefix_is_an_error():
    with pytest.raises(ProtocolError, match='too many digits'):
        eio.decode_payload_v3('1' * 20 + ':4')


def test_v3_decode_truncated_packet_is_an_error():
    with pytest.raises(ProtocolError, match='truncated') as info:
        eio.decode_payload_v3('10:4hello')
    assert info.value.offset == 3


def test_v3_decode_length_counted_in_code_points_is_an_error():
    # '4😀' is 3 UTF-16 units; a length of 2 ends inside the surrogate pair.
    with pytest.raises(ProtocolError, match='surrogate pair'):
        eio.decode_payload_v3('2:4😀')


def test_v3_decode_empty_text_payload_is_an_error():
    with pytest.raises(ProtocolError, match='empty payload'):
        eio.decode_payload_v3('')


def test_v3_decode_unknown_type_inside_payload_reports_its_offset():
    with pytest.raises(ProtocolError, match='unknown packet type') as info:
        eio.decode_payload_v3('6:4hello1:9')
    assert info.value.offset == 10


def test_v3_decode_bad_base64_inside_payload_is_an_error():
    with pytest.raises(ProtocolError, match='base64'):
        eio.decode_payload_v3('4:b4!!')


def test_v3_decode_text_payload_honours_max_packets():
    with pytest.raises(ProtocolError, match='limit of 1'):
        eio.decode_payload_v3('1:21:2', max_packets=1)


# -- v3 binary payloads -------------------------------------------------------------------------

SUITE_BINARY = bytes([0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4])


def test_v3_binary_payload_matches_the_suite_bytes():
    packets = [Packet(eio.MESSAGE, 'hello'), Packet(eio.MESSAGE, BIN)]
    assert eio.encode_payload_v3(packets, b64=False) == SUITE_BINARY


def test_v3_decode_binary_payload_from_the_suite():
    assert eio.decode_payload_v3(SUITE_BINARY) == [
        Packet(eio.MESSAGE, 'hello'), Packet(eio.MESSAGE, BIN)]


def test_v3_binary_payload_text_length_counts_utf8_bytes():
    # The v3 spec vector: '4€' is 4 UTF-8 bytes. (The spec's drawing omits the binary packet's
    # type byte; node and the suite include it, so its length is 5.)
    packets = [Packet(eio.MESSAGE, '€'), Packet(eio.MESSAGE, BIN)]
    assert eio.encode_payload_v3(packets, b64=False) == bytes(
        [0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x05, 0xff, 0x04, 1, 2, 3, 4])


def test_v3_binary_payload_writes_length_digits_as_byte_values():
    payload = eio.encode_payload_v3([Packet(eio.MESSAGE, b'x' * 11)], b64=False)
    assert payload[:4] == b'\x01\x01\x02\xff'


def test_v3_decode_binary_payload_with_multi_digit_length():
    payload = b'\x01\x01\x02\xff\x04' + b'x' * 11
    assert eio.decode_payload_v3(payload) == [Packet(eio.MESSAGE, b'x' * 11)]


def test_v3_decode_binary_payload_accepts_bytearray_and_memoryview():
    assert eio.decode_payload_v3(bytearray(SUITE_BINARY)) == eio.decode_payload_v3(SUITE_BINARY)
    assert eio.decode_payload_v3(memoryview(SUITE_BINARY)) == eio.decode_payload_v3(SUITE_BINARY)


@pytest.mark.parametrize('payload, offset, words', [
    (b'\x02\x01\xff4', 0, 'kind byte'),
    (b'\x00\x0a\xff4', 1, 'length digit'),
    (b'\x00\x01\x02', 0, 'truncated'),
    (b'\x00\xff4', 1, 'no digits'),
    (b'\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff', 1, 'too many digits'),
    (b'\x00\x09\xff4', 3, 'truncated'),
    (b'\x00\x03\xff4\xe2\x82', 4, 'UTF-8'),
    (b'\x01\x00\xff', 3, 'no type byte'),
    (b'\x01\x01\xff\x09', 3, 'unknown packet type byte'),
    (b'\x00\x01\xff9', 3, 'unknown packet type'),
    (b'', 0, 'empty payload'),
])
def test_v3_decode_malformed_binary_payload_is_an_error(payload, offset, words):
    with pytest.raises(ProtocolError, match=words) as info:
        eio.decode_payload_v3(payload)
    assert info.value.offset == offset


def test_v3_decode_binary_payload_honours_max_packets():
    with pytest.raises(ProtocolError, match='limit of 1'):
        eio.decode_payload_v3(SUITE_BINARY, max_packets=1)


# -- handshake and error bodies -----------------------------------------------------------------

def test_open_packet_data_v4_matches_the_spec_example():
    assert eio.open_packet_data('lv_VI97HAXpY6yYWAAAC', ['websocket'], 25000, 20000, 1000000) == (
        '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":20000,"maxPayload":1000000}')


def test_open_packet_data_without_max_payload_is_the_v3_form():
    assert eio.open_packet_data('lv_VI97HAXpY6yYWAAAC', ['websocket'], 25000, 5000) == (
        '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":5000}')


def test_open_packet_data_for_websocket_only_session_has_no_upgrades():
    assert '"upgrades":[]' in eio.open_packet_data('x', [], 25000, 20000, 1000000)


def test_open_packet_data_keeps_sub_second_intervals_exact():
    data = eio.open_packet_data('x', ['websocket'], 300, 200, 1000000)
    assert '"pingInterval":300,"pingTimeout":200' in data


def test_open_packet_data_writes_integral_float_milliseconds_as_ints():
    assert '"pingInterval":300,' in eio.open_packet_data('x', [], 300.0, 200, None)


def test_open_packet_data_refuses_fractional_milliseconds():
    with pytest.raises(ValueError):
        eio.open_packet_data('x', [], 0.3, 200)


def test_open_packet_data_is_an_open_packet_on_the_wire():
    packet = Packet(eio.OPEN, eio.open_packet_data('abc', [], 1, 2, 3))
    assert eio.encode_packet(packet) == \
        '0{"sid":"abc","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}'


@pytest.mark.parametrize('code, body', [
    (0, '{"code":0,"message":"Transport unknown"}'),
    (1, '{"code":1,"message":"Session ID unknown"}'),
    (2, '{"code":2,"message":"Bad handshake method"}'),
    (3, '{"code":3,"message":"Bad request"}'),
    (4, '{"code":4,"message":"Forbidden"}'),
    (5, '{"code":5,"message":"Unsupported protocol version"}'),
])
def test_error_body_is_nodes_exact_json(code, body):
    assert eio.error_body(code) == body


def test_error_body_takes_a_custom_message_like_a_refused_allow_request():
    assert eio.error_body(4, 'not today') == '{"code":4,"message":"not today"}'


def test_error_body_refuses_unknown_code():
    with pytest.raises(ValueError):
        eio.error_body(6)


def test_error_status_is_403_for_forbidden_and_400_otherwise():
    assert [eio.error_status(c) for c in range(6)] == [400, 400, 400, 400, 403, 400]
