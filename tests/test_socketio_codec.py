"""Socket.IO codec: vectors from the socket.io-protocol v4/v5 specs and the official v5 suite."""
import pytest

from geventio.protocol import engineio as eio
from geventio.protocol import socketio as sio
from geventio.protocol.socketio import Decoder, Packet, ProtocolError

PH0 = {'_placeholder': True, 'num': 0}
PH1 = {'_placeholder': True, 'num': 1}


def decode(text):
    """Decode one complete text packet."""
    packet = Decoder().feed(text)
    assert packet is not None
    return packet


def decode_error(*frames, **decoder_options):
    """The ProtocolError raised by feeding ``frames`` in order."""
    decoder = Decoder(**decoder_options)
    with pytest.raises(ProtocolError) as info:
        for frame in frames:
            decoder.feed(frame)
    return info.value


# -- types and Packet ---------------------------------------------------------------------------

def test_packet_types_have_the_spec_numbers():
    assert [sio.CONNECT, sio.DISCONNECT, sio.EVENT, sio.ACK, sio.CONNECT_ERROR,
            sio.BINARY_EVENT, sio.BINARY_ACK] == list(range(7))


def test_packet_defaults_to_the_main_namespace_without_data_or_id():
    packet = Packet(sio.CONNECT)
    assert (packet.namespace, packet.data, packet.id, packet.attachments) == ('/', None, None, 0)


def test_packet_attachments_do_not_take_part_in_equality():
    assert Packet(sio.EVENT, data=['a'], attachments=2) == Packet(sio.EVENT, data=['a'])


def test_protocol_error_is_shared_with_the_engineio_codec():
    assert sio.ProtocolError is eio.ProtocolError


# -- encoding: spec vectors ---------------------------------------------------------------------

@pytest.mark.parametrize('packet, text', [
    (Packet(sio.CONNECT), '0'),
    (Packet(sio.CONNECT, '/admin'), '0/admin,'),
    (Packet(sio.CONNECT, '/admin', {'sid': 'oSO0OpakMV_3jnilAAAA'}),
     '0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'),
    (Packet(sio.DISCONNECT), '1'),
    (Packet(sio.DISCONNECT, '/admin'), '1/admin,'),
    (Packet(sio.EVENT, data=['hello', 1]), '2["hello",1]'),
    (Packet(sio.EVENT, '/admin', ['bar']), '2/admin,["bar"]'),
    (Packet(sio.EVENT, '/admin', ['project:delete', 123], 456),
     '2/admin,456["project:delete",123]'),
    (Packet(sio.EVENT, data=['foo'], id=12), '212["foo"]'),
    (Packet(sio.ACK, '/admin', ['bar'], 13), '3/admin,13["bar"]'),
    (Packet(sio.ACK, '/admin', [], 456), '3/admin,456[]'),
    (Packet(sio.ACK, data=[], id=1), '31[]'),
    (Packet(sio.CONNECT_ERROR, data={'message': 'Not authorized'}),
     '4{"message":"Not authorized"}'),
    (Packet(sio.CONNECT_ERROR, '/admin', 'Not authorized'), '4/admin,"Not authorized"'),
])
def test_encode_spec_vector(packet, text):
    assert sio.encode(packet) == [text]


def test_encode_binary_event_replaces_bytes_with_a_placeholder():
    assert sio.encode(Packet(sio.EVENT, data=['baz', b'\x01\x02\x03'])) == [
        '51-["baz",{"_placeholder":true,"num":0}]', b'\x01\x02\x03']


def test_encode_binary_event_with_namespace_and_ack_id():
    assert sio.encode(Packet(sio.EVENT, '/admin', ['project:delete', b'\x01\x02\x03'], 456)) == [
        '51-/admin,456["project:delete",{"_placeholder":true,"num":0}]', b'\x01\x02\x03']


def test_encode_binary_ack_spec_vector():
    assert sio.encode(Packet(sio.ACK, '/admin', [b'\x03\x02\x01'], 456)) == [
        '61-/admin,456[{"_placeholder":true,"num":0}]', b'\x03\x02\x01']


def test_encode_two_attachments_numbers_them_in_order():
    frames = sio.encode(Packet(sio.EVENT, data=['message-back', b'\x01\x02\x03', b'\x04\x05\x06']))
    assert frames == [
        '52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b'\x01\x02\x03', b'\x04\x05\x06']


def test_encode_finds_binary_nested_in_objects_and_arrays():
    frames = sio.encode(Packet(sio.EVENT, data=['x', {'a': [1, {'b': b'B'}]}, [b'C']]))
    assert frames == [
        '52-["x",{"a":[1,{"b":{"_placeholder":true,"num":0}}]},'
        '[{"_placeholder":true,"num":1}]]', b'B', b'C']


def test_encode_turns_bytearray_and_memoryview_attachments_into_bytes():
    frames = sio.encode(Packet(sio.EVENT, data=['x', bytearray(b'ab'), memoryview(b'cd')]))
    assert frames[1:] == [b'ab', b'cd']
    assert all(type(frame) is bytes for frame in frames[1:])


def test_encode_leaves_the_callers_data_untouched():
    data = ['x', {'k': b'\x00'}]
    sio.encode(Packet(sio.EVENT, data=data))
    assert data == ['x', {'k': b'\x00'}]


def test_encode_binary_type_without_binary_goes_out_as_plain_event():
    assert sio.encode(Packet(sio.BINARY_EVENT, data=['a'])) == ['2["a"]']


def test_encode_ack_from_the_suite():
    assert sio.encode(Packet(sio.ACK, data=[1, '2', {'3': [False]}], id=456)) == \
        ['3456[1,"2",{"3":[false]}]']


def test_encode_tuple_data_is_a_json_array():
    assert sio.encode(Packet(sio.ACK, data=('a', 1), id=3)) == ['33["a",1]']


def test_encode_uses_compact_json_and_raw_utf8():
    assert sio.encode(Packet(sio.EVENT, data=['é', {'a': 1, 'b': [1, 2]}])) == \
        ['2["é",{"a":1,"b":[1,2]}]']


def test_encode_escapes_control_characters_so_payloads_never_hold_a_record_separator():
    assert sio.encode(Packet(sio.EVENT, data=['a\x1eb'])) == ['2["a\\u001eb"]']


def test_encode_escapes_lone_surrogates_like_json_stringify():
    assert sio.encode(Packet(sio.EVENT, data=['\ud800'])) == ['2["\\ud800"]']


def test_encode_escapes_a_lone_surrogate_anywhere_in_long_non_ascii_text():
    text = 'ü€😀' * 1000
    for data in (['\udc00' + text], [text + '\ud800'], [text, {'k': text[:10] + '\ud83d'}]):
        frame = sio.encode(Packet(sio.EVENT, data=data))[0]
        frame.encode('utf-8')  # sendable
        assert decode(frame).data == data


def test_encode_writes_nan_as_null_like_json_stringify():
    assert sio.encode(Packet(sio.EVENT, data=['n', float('nan')])) == ['2["n",null]']


def test_encode_data_json_cannot_carry_is_a_type_error():
    with pytest.raises(TypeError):
        sio.encode(Packet(sio.EVENT, data=['x', object()]))


@pytest.mark.parametrize('packet, words', [
    (Packet(sio.EVENT, 'admin', ['a']), 'namespace'),
    (Packet(sio.EVENT, '/a,b', ['a']), 'namespace'),
    (Packet(sio.EVENT, data=[]), 'empty'),
    (Packet(sio.EVENT, data='hello'), 'must be a list'),
    (Packet(sio.EVENT, data=[1]), 'event name must be a string'),
    (Packet(sio.EVENT, data=['disconnect']), 'reserved'),
    (Packet(sio.ACK, data=[]), 'ack id'),
    (Packet(sio.EVENT, data=['a'], id=-1), 'ack id'),
    (Packet(sio.EVENT, data=['a'], id=True), 'ack id'),
    (Packet(sio.EVENT, data=['a'], id=2 ** 53), 'ack id'),
    (Packet(sio.CONNECT, data={}, id=1), 'no ack id'),
    (Packet(sio.CONNECT, data=['x']), 'CONNECT data'),
    (Packet(sio.CONNECT, data={'k': b'x'}), 'binary data is only allowed'),
    (Packet(sio.DISCONNECT, data={}), 'no data'),
    (Packet(sio.CONNECT_ERROR, data=[1]), 'CONNECT_ERROR data'),
])
def test_encode_refuses_packets_the_spec_forbids(packet, words):
    with pytest.raises(ValueError, match=words):
        sio.encode(packet)


# -- server answers: v5 and v4 ------------------------------------------------------------------

def test_connect_ack_v5_carries_the_sid():
    assert sio.encode(sio.connect_ack('/', 'wZX3oN0bSVIhsaknAAAI')) == \
        ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}']


def test_connect_ack_v5_for_a_custom_namespace():
    assert sio.encode(sio.connect_ack('/custom', 'abc')) == ['0/custom,{"sid":"abc"}']


def test_connect_ack_v5_needs_a_sid():
    with pytest.raises(ValueError):
        sio.connect_ack('/')


def test_connect_ack_v4_has_no_payload():
    assert sio.encode(sio.connect_ack('/', 'ignored', protocol=4)) == ['0']
    assert sio.encode(sio.connect_ack('/admin', protocol=4)) == ['0/admin,']


def test_connect_error_v5_is_an_object_with_message():
    assert sio.encode(sio.connect_error('/', 'Not authorized')) == \
        ['4{"message":"Not authorized"}']


def test_connect_error_v5_for_an_unknown_namespace_matches_the_suite():
    assert sio.encode(sio.connect_error('/random', 'Invalid namespace')) == \
        ['4/random,{"message":"Invalid namespace"}']


def test_connect_error_v5_carries_extra_data():
    assert sio.encode(sio.connect_error('/', 'no', {'retry': 5})) == \
        ['4{"message":"no","data":{"retry":5}}']


def test_connect_error_v4_is_the_message_string():
    assert sio.encode(sio.connect_error('/admin', 'Not authorized', protocol=4)) == \
        ['4/admin,"Not authorized"']


def test_connect_error_v4_sends_extra_data_instead_of_the_message_like_node():
    assert sio.encode(sio.connect_error('/', 'no', {'retry': 5}, protocol=4)) == \
        ['4{"retry":5}']


def test_unknown_protocol_revision_is_refused():
    with pytest.raises(ValueError):
        sio.connect_ack('/', 'x', protocol=3)
    with pytest.raises(ValueError):
        sio.connect_error('/', 'x', protocol=6)


def test_split_namespace_separates_a_v4_query():
    assert sio.split_namespace('/admin?token=1234&uid=abcd') == ('/admin', 'token=1234&uid=abcd')


def test_split_namespace_without_query():
    assert sio.split_namespace('/admin') == ('/admin', '')


# -- broadcast helper ---------------------------------------------------------------------------

def test_encode_messages_wraps_each_frame_in_an_engineio_message():
    messages = sio.encode_messages(Packet(sio.EVENT, data=['x', b'\x01']))
    assert messages == (eio.Packet(eio.MESSAGE, '51-["x",{"_placeholder":true,"num":0}]'),
                        eio.Packet(eio.MESSAGE, b'\x01'))


def test_encode_messages_gives_the_suite_frames_over_websocket():
    messages = sio.encode_messages(Packet(sio.EVENT, data=['message-back', 1, '2', {'3': [True]}]))
    assert [eio.encode_packet(m) for m in messages] == \
        ['42["message-back",1,"2",{"3":[true]}]']


def test_encode_messages_result_is_immutable_and_shareable():
    messages = sio.encode_messages(Packet(sio.EVENT, data=['x']))
    assert isinstance(messages, tuple)
    with pytest.raises(AttributeError):
        messages[0].data = 'changed'


# -- decoding: valid packets --------------------------------------------------------------------

@pytest.mark.parametrize('text, packet', [
    ('0', Packet(sio.CONNECT)),
    ('0{"token":"123"}', Packet(sio.CONNECT, data={'token': '123'})),
    ('0/custom,', Packet(sio.CONNECT, '/custom')),
    ('0/custom,{"token":"abc"}', Packet(sio.CONNECT, '/custom', {'token': 'abc'})),
    ('0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}',
     Packet(sio.CONNECT, '/admin', {'sid': 'oSO0OpakMV_3jnilAAAA'})),
    ('1', Packet(sio.DISCONNECT)),
    ('1/admin,', Packet(sio.DISCONNECT, '/admin')),
    ('2["hello",1]', Packet(sio.EVENT, data=['hello', 1])),
    ('2/admin,["a"]', Packet(sio.EVENT, '/admin', ['a'])),
    ('21["ack"]', Packet(sio.EVENT, data=['ack'], id=1)),
    ('2/admin,456["project:delete",123]',
     Packet(sio.EVENT, '/admin', ['project:delete', 123], 456)),
    ('31[]', Packet(sio.ACK, data=[], id=1)),
    ('3/admin,13["bar"]', Packet(sio.ACK, '/admin', ['bar'], 13)),
    ('3456[1,"2",{"3":[false]}]', Packet(sio.ACK, data=[1, '2', {'3': [False]}], id=456)),
    ('4{"message":"Not authorized"}',
     Packet(sio.CONNECT_ERROR, data={'message': 'Not authorized'})),
    ('4/admin,"Not authorized"', Packet(sio.CONNECT_ERROR, '/admin', 'Not authorized')),
    ('4', Packet(sio.CONNECT_ERROR)),
])
def test_decode_spec_vector(text, packet):
    assert decode(text) == packet


def test_decode_namespace_without_trailing_comma_runs_to_the_end():
    # The v5 suite sends "40/random", "40/custom" and "41/custom".
    assert decode('0/random') == Packet(sio.CONNECT, '/random')
    assert decode('1/custom') == Packet(sio.DISCONNECT, '/custom')


def test_decode_keeps_a_v4_namespace_query_for_split_namespace():
    packet = decode('0/admin?token=1234&uid=abcd,')
    assert packet.namespace == '/admin?token=1234&uid=abcd'


def test_decode_ack_id_with_leading_zero_like_node():
    assert decode('207["a"]').id == 7


def test_decode_largest_safe_ack_id():
    assert decode(f'3{2 ** 53 - 1}[]').id == 2 ** 53 - 1


def test_decode_event_with_non_ascii_text():
    assert decode('2["€😀"]').data == ['€😀']


def test_decode_event_with_escaped_lone_surrogate():
    assert decode('2["\\ud800"]').data == ['\ud800']


def test_decode_placeholder_in_a_plain_event_is_left_as_data_like_node():
    assert decode('2["a",{"_placeholder":true,"num":0}]').data == ['a', PH0]


# -- decoding: binary packets -------------------------------------------------------------------

def test_decode_binary_event_waits_for_its_attachment():
    decoder = Decoder()
    assert decoder.feed('51-["x",{"_placeholder":true,"num":0}]') is None
    assert decoder.awaiting == 1
    packet = decoder.feed(b'\x01\x02')
    assert packet == Packet(sio.EVENT, data=['x', b'\x01\x02'])
    assert decoder.awaiting == 0


def test_decode_binary_packet_comes_back_as_event_or_ack_with_attachment_count():
    decoder = Decoder()
    decoder.feed('61-15["bar",{"_placeholder":true,"num":0}]')
    packet = decoder.feed(b'\x03')
    assert (packet.type, packet.id, packet.attachments) == (sio.ACK, 15, 1)


def test_decode_two_attachments_from_the_suite():
    decoder = Decoder()
    assert decoder.feed('52-["message",{"_placeholder":true,"num":0},'
                        '{"_placeholder":true,"num":1}]') is None
    assert decoder.feed(b'\x01\x02\x03') is None
    assert decoder.awaiting == 1
    assert decoder.feed(b'\x04\x05\x06').data == ['message', b'\x01\x02\x03', b'\x04\x05\x06']


def test_decode_attachments_go_where_their_num_says_not_in_arrival_order():
    decoder = Decoder()
    decoder.feed('52-["x",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]')
    decoder.feed(b'first')
    assert decoder.feed(b'second').data == ['x', b'second', b'first']


def test_decode_nested_placeholders():
    decoder = Decoder()
    decoder.feed('51-/admin,9["x",{"a":[{"b":{"_placeholder":true,"num":0}}]}]')
    packet = decoder.feed(bytearray(b'Z'))
    assert packet == Packet(sio.EVENT, '/admin', ['x', {'a': [{'b': b'Z'}]}], 9)


def test_decode_binary_event_with_zero_attachments_completes_at_once():
    assert Decoder().feed('50-["x"]') == Packet(sio.EVENT, data=['x'])


def test_decode_attachment_accepts_memoryview():
    decoder = Decoder()
    decoder.feed('51-["x",{"_placeholder":true,"num":0}]')
    assert decoder.feed(memoryview(b'mv')).data == ['x', b'mv']


def test_decoder_is_reusable_after_a_binary_packet():
    decoder = Decoder()
    decoder.feed('51-["x",{"_placeholder":true,"num":0}]')
    decoder.feed(b'1')
    assert decoder.feed('2["y"]') == Packet(sio.EVENT, data=['y'])


def test_decoder_reset_drops_a_partial_packet():
    decoder = Decoder()
    decoder.feed('51-["x",{"_placeholder":true,"num":0}]')
    decoder.reset()
    assert decoder.awaiting == 0
    assert decoder.feed('2["y"]') == Packet(sio.EVENT, data=['y'])


def test_encode_then_decode_binary_round_trip():
    original = Packet(sio.ACK, '/ns', [b'\x00\xff', {'k': [b'', 'v']}], 77)
    decoder = Decoder()
    results = [decoder.feed(frame) for frame in sio.encode(original)]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] == original


# -- decoding: malformed packets ----------------------------------------------------------------

@pytest.mark.parametrize('text, offset, words', [
    ('', 0, 'empty packet'),
    ('7', 0, 'unknown packet type'),
    ('abc', 0, 'unknown packet type'),       # the suite's "4abc"
    ('2admin,["a"]', 1, 'namespace starting with "/"'),
    ('2abc["message-with-ack",1]', 1, 'ack id'),  # the suite's "42abc[...]"
    ('2/admin,abc["a"]', 8, 'ack id'),
    ('21-["a"]', 2, 'JSON payload'),
    ('2["a"', 5, 'invalid JSON'),
    ('2["a"]x', 6, 'after the JSON payload'),
    ('2["a"] ', 6, 'after the JSON payload'),
    ('2["a",NaN]', 6, 'invalid JSON'),
    ('2{}', 1, 'non-empty array'),           # the suite's "42{}"
    ('2', 1, 'non-empty array'),
    ('2[]', 1, 'non-empty array'),
    ('2"hello"', 1, 'non-empty array'),
    ('2[1]', 2, 'event name must be a string'),
    ('2[null]', 2, 'event name must be a string'),
    ('2["disconnect"]', 2, 'reserved'),
    ('2["connect"]', 2, 'reserved'),
    ('3["a"]', 1, 'need an ack id'),
    ('31{}', 2, 'ACK payload must be an array'),
    ('31', 2, 'ACK payload must be an array'),
    ('0[]', 1, 'CONNECT payload must be an object'),
    ('0"token"', 1, 'CONNECT payload must be an object'),
    ('01{}', 1, 'carry no ack id'),
    ('1{}', 1, 'DISCONNECT packets carry no payload'),
    ('1/admin,"x"', 8, 'DISCONNECT packets carry no payload'),
    ('4["x"]', 1, 'CONNECT_ERROR payload'),
    ('5-["a"]', 1, 'attachment count'),
    ('5["a"]', 1, 'attachment count'),
    ('51["a"]', 2, "'-'"),
    ('51', 2, "'-'"),
    ('511-["a"]', 1, 'too many attachments'),
    ('5' + '9' * 11 + '-["a"]', 1, 'too many digits'),
    ('29007199254740992["a"]', 1, '2**53-1'),
    ('2' + '9' * 400 + '["a"]', 1, '2**53-1'),
])
def test_decode_malformed_text_is_a_protocol_error(text, offset, words):
    error = decode_error(text)
    assert words in error.reason
    assert error.offset == offset


def test_decode_an_integer_longer_than_python_converts_is_a_protocol_error():
    error = decode_error('2["a",' + '1' * 5000 + ']')
    assert 'invalid JSON payload' in error.reason


def test_decode_refuses_nan_and_infinity_at_their_offset():
    assert decode_error('2["a",-Infinity]').offset == 6
    assert decode_error('2["a",{"x":Infinity}]').offset == 11


def test_decode_honours_a_smaller_max_attachments():
    assert 'too many attachments: 3 > 2' in decode_error('53-["a"]', max_attachments=2).reason


def test_decode_deeply_nested_json_is_a_protocol_error_not_a_crash():
    error = decode_error('2["a",' + '[' * 100000 + ']' * 100000 + ']')
    assert 'nested too deeply' in error.reason


def test_decode_unexpected_binary_frame_is_a_protocol_error():
    assert 'unexpected binary frame' in decode_error(b'\x01').reason


def test_decode_text_while_attachments_are_expected_is_a_protocol_error():
    error = decode_error('51-["x",{"_placeholder":true,"num":0}]', '2["y"]')
    assert '1 binary attachment(s) are still expected' in error.reason


@pytest.mark.parametrize('placeholder', [
    '{"_placeholder":true,"num":1}', '{"_placeholder":true,"num":-1}',
    '{"_placeholder":true,"num":"0"}', '{"_placeholder":true,"num":0.5}',
    '{"_placeholder":true,"num":true}', '{"_placeholder":true}',
])
def test_decode_placeholder_num_out_of_range_is_a_protocol_error(placeholder):
    error = decode_error(f'51-["x",{placeholder}]')
    assert 'placeholder num' in error.reason


def test_decode_placeholder_is_checked_before_attachments_arrive():
    decoder = Decoder()
    with pytest.raises(ProtocolError):
        decoder.feed('50-["x",{"_placeholder":true,"num":0}]')


def test_decoder_is_reset_after_an_error():
    decoder = Decoder()
    decoder.feed('51-["x",{"_placeholder":true,"num":0}]')
    with pytest.raises(ProtocolError):
        decoder.feed('2["y"]')
    assert decoder.awaiting == 0
    assert decoder.feed('2["z"]') == Packet(sio.EVENT, data=['z'])


def test_decoder_refuses_frames_that_are_neither_text_nor_bytes():
    with pytest.raises(TypeError):
        Decoder().feed(42)
