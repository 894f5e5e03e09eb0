"""permessage-deflate (RFC 7692), sans-I/O, as a specification.

Negotiation: the client's offers are read in order, the first acceptable one is agreed and
answered with the exact ``Sec-WebSocket-Extensions`` value; an offer with an unknown,
repeated or invalid parameter is declined. Messages: compressed with real zlib from the
threshold up (RSV1), inflated by the frame decoder, context kept or dropped as agreed, and
the inflated size bounded by max_message_size before it is allocated.
"""
import os
import zlib

import pytest

import geventio
from geventio.protocol.permessage_deflate import (
    DeflateOptions, InflatingFrameDecoder, WebSocketDeflate, parse_extensions,
)
from geventio.protocol.rfc6455 import (
    CLOSE_INVALID_DATA, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, OP_BINARY, OP_CONTINUATION, OP_PING,
    OP_TEXT, FrameDecoder, FrameError, Ping, encode_frame,
)
from geventio.settings import Settings

MASK = b"\x37\xfa\x21\x3d"
TEXT = "".join("line %d of a compressible message\n" % i for i in range(200))


def agree(header, **options):
    return WebSocketDeflate(DeflateOptions(**options)).negotiate(header)


def answer(header, **options):
    agreed = agree(header, **options)
    return None if agreed is None else agreed.header


def client_compress(data, bits=15, takeover=None):
    """What a client sends: raw deflate, sync flush, the 4-byte tail removed."""
    c = takeover or zlib.compressobj(6, zlib.DEFLATED, -bits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def masked(opcode, payload, fin=True, rsv1=False):
    return encode_frame(opcode, payload, fin=fin, mask=MASK, rsv1=rsv1)


def decoder_for(deflate, max_message_size=1_000_000):
    return InflatingFrameDecoder(max_message_size, deflate)


def events(decoder, data):
    decoder.feed(data)
    out = []
    while (event := decoder.next_event()) is not None:
        out.append(event)
    return out


def server_inflate(frame_bytes, inflater=None, bits=15):
    """What a client does with a server frame: check RSV1, inflate with the tail added."""
    assert frame_bytes[0] & 0x40
    n = frame_bytes[1] & 0x7F
    start = 2 + {126: 2, 127: 8}.get(n, 0)
    d = inflater or zlib.decompressobj(-bits)
    return d.decompress(frame_bytes[start:] + b"\x00\x00\xff\xff")


# --------------------------------------------------------------------------- the setting

def test_the_setting_is_off_by_default():
    assert Settings().per_message_deflate is False
    assert DeflateOptions.from_setting(False) is None


def test_true_means_the_defaults_node_threshold_1024_and_full_windows():
    options = DeflateOptions.from_setting(True)
    assert options == DeflateOptions()
    assert (options.threshold, options.server_max_window_bits,
            options.client_max_window_bits) == (1024, 15, 15)


def test_an_unknown_option_is_an_error_at_router_creation():
    with pytest.raises(ValueError, match="unknown per_message_deflate option.*windowBits"):
        geventio.get_router(geventio.SocketConnection,
                            {"per_message_deflate": {"windowBits": 10}})


@pytest.mark.parametrize("options", [{"server_max_window_bits": 7}, {"client_max_window_bits": 16},
                                     {"level": 10}, {"mem_level": 0}, {"threshold": -1},
                                     {"server_no_context_takeover": "yes"}])
def test_an_option_out_of_range_is_an_error(options):
    with pytest.raises(ValueError, match="per_message_deflate"):
        Settings.from_mapping({"per_message_deflate": options})


# --------------------------------------------------------------------------- parsing offers

def test_offers_are_parsed_in_order_with_and_without_values_and_quoted():
    assert parse_extensions('foo, permessage-deflate; client_max_window_bits; '
                            'server_max_window_bits="10", permessage-deflate') == [
        ("foo", {}),
        ("permessage-deflate", {"client_max_window_bits": None, "server_max_window_bits": "10"}),
        ("permessage-deflate", {}),
    ]


def test_a_repeated_parameter_makes_the_offer_malformed():
    assert parse_extensions("permessage-deflate; server_no_context_takeover; "
                            "server_no_context_takeover") == [("permessage-deflate", None)]


def test_an_unclosed_quote_gives_no_offers():
    assert parse_extensions('permessage-deflate; server_max_window_bits="10') == []


# --------------------------------------------------------------------------- agreeing

def test_chromium_offer_is_answered_with_the_bare_extension():
    assert answer("permessage-deflate; client_max_window_bits") == "permessage-deflate"


def test_a_bare_offer_like_firefox_is_answered_with_the_bare_extension():
    assert answer("permessage-deflate") == "permessage-deflate"


def test_no_header_or_other_extensions_only_agree_nothing():
    assert answer(None) is None
    assert answer("x-webkit-deflate-frame") is None


def test_server_no_context_takeover_is_honoured_when_requested():
    agreed = agree("permessage-deflate; server_no_context_takeover")
    assert agreed.header == "permessage-deflate; server_no_context_takeover"
    assert agreed.server_no_context_takeover


def test_server_no_context_takeover_is_said_when_configured():
    assert answer("permessage-deflate", server_no_context_takeover=True) == \
        "permessage-deflate; server_no_context_takeover"


def test_client_no_context_takeover_offered_is_accepted():
    agreed = agree("permessage-deflate; client_no_context_takeover")
    assert agreed.header == "permessage-deflate; client_no_context_takeover"
    assert agreed.client_no_context_takeover


def test_client_no_context_takeover_is_asked_for_when_configured():
    assert answer("permessage-deflate", client_no_context_takeover=True) == \
        "permessage-deflate; client_no_context_takeover"


def test_a_requested_server_window_is_honoured_below_ours():
    agreed = agree("permessage-deflate; server_max_window_bits=10", server_max_window_bits=12)
    assert agreed.header == "permessage-deflate; server_max_window_bits=10"
    assert agreed.server_max_window_bits == 10


def test_our_smaller_server_window_is_said_even_when_not_requested():
    assert answer("permessage-deflate", server_max_window_bits=9) == \
        "permessage-deflate; server_max_window_bits=9"


def test_client_window_is_limited_only_when_the_offer_allows_it():
    assert answer("permessage-deflate; client_max_window_bits", client_max_window_bits=10) == \
        "permessage-deflate; client_max_window_bits=10"
    assert answer('permessage-deflate; client_max_window_bits="9"',
                  client_max_window_bits=12) == "permessage-deflate; client_max_window_bits=9"
    # An offer without client_max_window_bits cannot be held to a smaller window: declined.
    assert answer("permessage-deflate", client_max_window_bits=10) is None


def test_every_parameter_together_is_answered_in_a_fixed_order():
    assert answer("permessage-deflate; client_max_window_bits=12; server_max_window_bits=11; "
                  "client_no_context_takeover; server_no_context_takeover") == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=11; client_max_window_bits=12")


@pytest.mark.parametrize("offer", [
    "permessage-deflate; foo=1",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=010",
    "permessage-deflate; client_max_window_bits=x",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; =1",
])
def test_an_invalid_or_duplicate_parameter_makes_the_offer_unacceptable(offer):
    assert answer(offer) is None


def test_an_unacceptable_offer_falls_back_to_the_next_one():
    assert answer("permessage-deflate; foo, permessage-deflate; server_max_window_bits=12") == \
        "permessage-deflate; server_max_window_bits=12"


# --------------------------------------------------------------------------- sending

def test_a_message_below_the_threshold_is_sent_plain():
    agreed = agree("permessage-deflate")
    assert agreed.frame("x" * 1023) == encode_frame(OP_TEXT, b"x" * 1023)
    assert agreed.memory_state == (False, False)  # no zlib state was made


def test_a_message_from_the_threshold_up_is_compressed_with_rsv1():
    agreed = agree("permessage-deflate")
    frame = agreed.frame(TEXT)
    assert frame[0] == 0xC1 and len(frame) < len(TEXT) / 4
    assert server_inflate(frame) == TEXT.encode()


def test_binary_messages_are_compressed_too():
    frame = agree("permessage-deflate").frame(TEXT.encode())
    assert frame[0] == 0xC2 and server_inflate(frame) == TEXT.encode()


def test_context_takeover_makes_a_repeated_message_smaller_and_keeps_the_state():
    agreed = agree("permessage-deflate")
    first, second = agreed.frame(TEXT), agreed.frame(TEXT)
    assert len(second) < len(first) / 3
    client = zlib.decompressobj(-15)
    assert server_inflate(first, client) + server_inflate(second, client) == TEXT.encode() * 2
    assert agreed.memory_state == (True, False)


def test_no_context_takeover_frames_stand_alone_and_the_state_is_dropped():
    agreed = agree("permessage-deflate; server_no_context_takeover")
    first, second = agreed.frame(TEXT), agreed.frame(TEXT)
    assert first == second and server_inflate(second) == TEXT.encode()
    assert agreed.memory_state == (False, False)


def test_with_no_context_takeover_a_broadcast_is_compressed_once_for_every_connection():
    deflate = WebSocketDeflate(DeflateOptions(server_no_context_takeover=True))
    one, two = deflate.negotiate("permessage-deflate"), deflate.negotiate("permessage-deflate")
    message = TEXT + "!"
    assert one.frame(message) is two.frame(message)
    # a different window makes different bytes: not shared
    three = deflate.negotiate("permessage-deflate; server_max_window_bits=9")
    assert three.frame(message) is not one.frame(message)
    assert server_inflate(three.frame(message), bits=9) == message.encode()


def test_a_window_of_8_bits_is_served_by_zlib_9_within_256_byte_distances():
    agreed = agree("permessage-deflate; server_max_window_bits=8")
    assert agreed.header == "permessage-deflate; server_max_window_bits=8"
    data = os.urandom(200).hex() * 20
    assert server_inflate(agreed.frame(data), bits=8) == data.encode()


# --------------------------------------------------------------------------- receiving

def test_a_compressed_text_message_is_inflated_by_the_decoder():
    decoder = decoder_for(agree("permessage-deflate"))
    assert events(decoder, masked(OP_TEXT, client_compress(TEXT.encode()), rsv1=True)) == [TEXT]


def test_a_fragmented_compressed_message_with_a_ping_between_is_inflated():
    payload = client_compress(TEXT.encode())
    decoder = decoder_for(agree("permessage-deflate"))
    data = (masked(OP_BINARY, payload[:10], fin=False, rsv1=True) + masked(OP_PING, b"p")
            + masked(OP_CONTINUATION, payload[10:]))
    assert events(decoder, data) == [Ping(b"p"), TEXT.encode()]


def test_client_context_takeover_carries_across_messages():
    decoder = decoder_for(agree("permessage-deflate"))
    client = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = b"".join(masked(OP_TEXT, client_compress(TEXT.encode(), takeover=client), rsv1=True)
                    for _ in range(3))
    assert events(decoder, data) == [TEXT] * 3


def test_client_no_context_takeover_drops_the_inflate_state_after_each_message():
    agreed = agree("permessage-deflate; client_no_context_takeover")
    decoder = decoder_for(agreed)
    assert events(decoder, masked(OP_TEXT, client_compress(TEXT.encode()), rsv1=True)) == [TEXT]
    assert agreed.memory_state == (False, False)


def test_an_uncompressed_message_still_passes_when_deflate_was_agreed():
    decoder = decoder_for(agree("permessage-deflate"))
    assert events(decoder, masked(OP_TEXT, b"plain")) == ["plain"]


def test_a_deflate_bomb_is_refused_with_1009_without_inflating_it():
    bomb = client_compress(b"\x00" * 50_000_000)  # ~49 KB on the wire
    agreed = agree("permessage-deflate")
    decoder = decoder_for(agreed, max_message_size=100_000)
    with pytest.raises(FrameError) as info:
        events(decoder, masked(OP_BINARY, bomb, rsv1=True))
    assert info.value.close_code == CLOSE_TOO_BIG


def test_the_bound_counts_every_fragment_of_a_compressed_message():
    payload = client_compress(b"a" * 3000)
    decoder = decoder_for(agree("permessage-deflate"), max_message_size=2999)
    with pytest.raises(FrameError) as info:
        events(decoder, masked(OP_BINARY, payload[:5], fin=False, rsv1=True)
               + masked(OP_CONTINUATION, payload[5:]))
    assert info.value.close_code == CLOSE_TOO_BIG


def test_a_message_exactly_at_the_bound_passes():
    decoder = decoder_for(agree("permessage-deflate"), max_message_size=3000)
    assert events(decoder, masked(OP_BINARY, client_compress(b"a" * 3000), rsv1=True)) == \
        [b"a" * 3000]


def test_invalid_compressed_data_is_1007():
    decoder = decoder_for(agree("permessage-deflate"))
    with pytest.raises(FrameError) as info:
        events(decoder, masked(OP_TEXT, b"\xff\xff\xff\xff garbage", rsv1=True))
    assert info.value.close_code == CLOSE_INVALID_DATA


def final_block(data: bytes) -> bytes:
    """``data`` raw-deflated as one stream ending in a BFINAL block."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush(zlib.Z_FINISH)


def test_a_message_ending_in_a_final_block_is_inflated_whole():
    decoder = decoder_for(agree("permessage-deflate"))
    assert events(decoder, masked(OP_TEXT, final_block(TEXT.encode()), rsv1=True)) == [TEXT]
    assert events(decoder, masked(OP_TEXT, client_compress(b"next"), rsv1=True)) == ["next"]


def test_data_after_a_final_block_is_1007_not_a_truncated_message():
    decoder = decoder_for(agree("permessage-deflate"))
    with pytest.raises(FrameError) as info:
        events(decoder, masked(OP_TEXT, final_block(b"hello"), fin=False, rsv1=True)
               + masked(OP_CONTINUATION, client_compress(b" world, more text")))
    assert info.value.close_code == CLOSE_INVALID_DATA


def test_inflated_text_that_is_not_utf8_is_1007():
    decoder = decoder_for(agree("permessage-deflate"))
    with pytest.raises(FrameError) as info:
        events(decoder, masked(OP_TEXT, client_compress(b"\xc3\x28" * 600), rsv1=True))
    assert info.value.close_code == CLOSE_INVALID_DATA


def test_rsv1_without_the_extension_is_1002():
    with pytest.raises(FrameError, match="reserved bits") as info:
        events(FrameDecoder(), masked(OP_TEXT, client_compress(b"hi"), rsv1=True))
    assert info.value.close_code == CLOSE_PROTOCOL_ERROR


def test_rsv1_on_a_continuation_frame_is_1002():
    decoder = decoder_for(agree("permessage-deflate"))
    with pytest.raises(FrameError, match="continuation") as info:
        events(decoder, masked(OP_TEXT, b"a", fin=False)
               + masked(OP_CONTINUATION, b"b", rsv1=True))
    assert info.value.close_code == CLOSE_PROTOCOL_ERROR


def test_rsv1_on_a_control_frame_is_1002():
    decoder = decoder_for(agree("permessage-deflate"))
    with pytest.raises(FrameError, match="control") as info:
        events(decoder, masked(OP_PING, b"", rsv1=True))
    assert info.value.close_code == CLOSE_PROTOCOL_ERROR


def test_rsv2_and_rsv3_stay_refused_with_the_extension():
    decoder = decoder_for(agree("permessage-deflate"))
    frame = bytearray(masked(OP_TEXT, b"a"))
    frame[0] |= 0x20
    with pytest.raises(FrameError, match="reserved bits"):
        events(decoder, bytes(frame))
