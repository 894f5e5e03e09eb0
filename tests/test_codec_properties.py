"""Property tests for the Engine.IO and Socket.IO codecs: round trips, and no crash on any input."""
import simplejson as strict_json
from hypothesis import given, strategies as st

from geventio.protocol import engineio as eio
from geventio.protocol import socketio as sio

# Text a client can send: any code point but lone surrogates (not encodable as UTF-8).
text = st.text(st.characters(blacklist_categories=('Cs',)))
eio_types = st.sampled_from(list(eio.PacketType))
text_packets = st.builds(eio.Packet, eio_types, text)
v4_packets = st.one_of(text_packets, st.builds(eio.Packet, st.just(eio.MESSAGE), st.binary()))
v3_packets = st.one_of(text_packets, st.builds(eio.Packet, eio_types, st.binary()))


@given(text)
def test_utf16_len_counts_two_units_above_the_bmp(s):
    assert eio.utf16_len(s) == sum(2 if ord(c) > 0xFFFF else 1 for c in s)


@given(v4_packets)
def test_v4_packet_round_trip_over_websocket(packet):
    assert eio.decode_packet(eio.encode_packet(packet)) == packet


@given(st.lists(v4_packets.filter(lambda p: not isinstance(p.data, str) or '\x1e' not in p.data),
                min_size=1))
def test_v4_payload_round_trip(packets):
    assert eio.decode_payload(eio.encode_payload(packets)) == packets


@given(v3_packets, st.booleans())
def test_v3_packet_round_trip_over_websocket(packet, b64):
    assert eio.decode_packet_v3(eio.encode_packet_v3(packet, b64=b64)) == packet


@given(st.lists(v3_packets), st.booleans())
def test_v3_payload_round_trip(packets, b64):
    encoded = eio.encode_payload_v3(packets, b64=b64)
    assert isinstance(encoded, bytes) == (not b64 and any(p.binary for p in packets))
    assert eio.decode_payload_v3(encoded) == packets


@given(st.text())
def test_v4_payload_decoder_raises_only_protocol_errors(body):
    try:
        eio.decode_payload(body)
    except eio.ProtocolError:
        pass


@given(st.one_of(st.text(), st.from_regex(r'\A([0-9]{1,3}:[0-6b].{0,5})+\Z'), st.binary()))
def test_v3_payload_decoder_raises_only_protocol_errors(body):
    try:
        eio.decode_payload_v3(body)
    except eio.ProtocolError:
        pass


# -- Socket.IO ----------------------------------------------------------------------------------

keys = text.filter(lambda k: k != '_placeholder')
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text | st.binary()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12)
namespaces = st.one_of(st.just('/'), st.from_regex(r'\A/[a-z0-9_/-]{0,10}\Z'))
ack_ids = st.integers(0, sio.MAX_ACK_ID)
event_names = text.filter(lambda name: name not in sio.RESERVED_EVENTS)
sio_packets = st.one_of(
    st.builds(sio.Packet, st.just(sio.EVENT), namespaces,
              st.builds(lambda name, args: [name] + args, event_names,
                        st.lists(json_values, max_size=4)),
              st.none() | ack_ids),
    st.builds(sio.Packet, st.just(sio.ACK), namespaces, st.lists(json_values, max_size=4), ack_ids),
    st.builds(sio.Packet, st.just(sio.CONNECT), namespaces,
              st.none() | st.dictionaries(keys, json_values.filter(
                  lambda v: not isinstance(v, (bytes, list, dict))), max_size=3)),
    st.builds(sio.Packet, st.just(sio.DISCONNECT), namespaces),
    st.builds(sio.Packet, st.just(sio.CONNECT_ERROR), namespaces,
              st.none() | text | st.builds(lambda m: {'message': m}, text)),
)


@given(sio_packets)
def test_socketio_round_trip(packet):
    frames = sio.encode(packet)
    decoder = sio.Decoder(max_attachments=10 ** 6)
    results = [decoder.feed(frame) for frame in frames]
    assert results[:-1] == [None] * (len(frames) - 1)
    assert results[-1] == packet
    assert results[-1].attachments == len(frames) - 1


@given(st.one_of(st.text(), st.builds(lambda t, rest: t + rest, st.sampled_from('0123456'),
                                      st.text())))
def test_socketio_decoder_raises_only_protocol_errors(frame):
    try:
        sio.Decoder().feed(frame)
    except sio.ProtocolError:
        pass


# Payloads made of JSON's own characters (and a few that break it): the fast standard-library
# scanner behind Decoder must accept exactly what strict JSON (simplejson, allow_nan=False)
# accepts, with the same values, and refuse the rest with simplejson's reason and offset.
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                      max_size=4),
    max_leaves=12)
json_like = st.one_of(
    st.text(alphabet='[]{}",:0123456789.eE+- tfnrulasNIiy\\/u\t\n\x01\x7fé\ud800\U0001f600',
            max_size=40).map(lambda s: '[' + s),
    st.lists(plain_json, max_size=4).map(strict_json.dumps),
)


@given(json_like)
def test_socketio_payloads_decode_exactly_as_strict_json(payload):
    frame = '31' + payload  # an ACK: any JSON array is a valid payload
    try:
        value, end = strict_json.JSONDecoder(allow_nan=False).raw_decode(payload)
        error = None if end == len(payload) else 'trailing data'
    except (ValueError, RecursionError) as exc:
        error = exc
    try:
        packet = sio.Decoder().feed(frame)
    except sio.ProtocolError as exc:
        assert error is not None
        if isinstance(error, strict_json.JSONDecodeError):
            assert (exc.reason, exc.offset) == (f'invalid JSON payload ({error.msg})',
                                                error.pos + 2)
        return
    assert error is None
    assert repr(packet.data) == repr(value)  # ints stay ints, floats floats
