"""Engine.IO 4 and 3 happy paths, byte for byte: polling, WebSocket and the upgrade
between them, as node engine.io puts them on the wire.

The server serves a raw Engine.IO echo at /engine.io/ (default heartbeats), the same echo
at /fast/ (pingInterval 300 ms, pingTimeout 200 ms) and a Socket.IO echo at /socket.io/.
"""
import re
import time

import gevent
import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.eio_client import (RS, WSClient, echo_engine_router, get, handshake,
                                post, url, wait_until)
from helpers.server import make_application, serve
from helpers.wire import request

pytestmark = pytest.mark.timeout(20)

EIO = "engine.io"
FAST = "fast"
SIO = "socket.io"
SID = rb'"sid":"[A-Za-z0-9_-]{20}"'
TEXT = "text/plain; charset=UTF-8"


@pytest.fixture(scope="module")
def routers():
    return {
        EIO: echo_engine_router(EIO),
        FAST: echo_engine_router(FAST, ping_interval=0.3, ping_timeout=0.2),
        SIO: geventio.get_router(echo_handler(Recorder()), resource=SIO),
    }


@pytest.fixture(scope="module")
def base(routers):
    with serve(make_application(list(routers.values()))) as base:
        yield base


def waiting_get(routers, base, sid, resource=EIO, **kw):
    """A polling GET in its own greenlet, returned once the server holds it."""
    g = gevent.spawn(get, base, resource, sid, **kw)
    wait_until(lambda: getattr(routers[resource].sessions.get(sid), "get_active", False))
    return g


# =========================================================================== Engine.IO 4

def test_v4_polling_handshake_is_the_open_packet_with_every_field_in_node_order(base):
    status, headers, body = request(base, "GET", url(EIO))
    assert (status, headers["content-type"]) == (200, TEXT)
    assert re.fullmatch(rb'0\{' + SID + rb',"upgrades":\["websocket"\],"pingInterval":25000,'
                        rb'"pingTimeout":20000,"maxPayload":1000000\}', body), body


def test_v4_polling_echoes_text_and_base64_binary_packets_byte_for_byte(base):
    sid, _ = handshake(base, EIO)
    assert post(base, EIO, sid, "4hello\x1ebAQIDBA==")[::2] == (200, b"ok")
    status, headers, body = get(base, EIO, sid)
    assert (status, headers["content-type"], body) == (200, TEXT, b"4hello\x1ebAQIDBA==")


def test_v4_polling_carries_utf8_text_unchanged(base):
    sid, _ = handshake(base, EIO)
    assert post(base, EIO, sid, "4€\x1e4\U0001F600")[::2] == (200, b"ok")
    assert get(base, EIO, sid)[2] == "4€\x1e4\U0001F600".encode("utf-8")


def test_v4_polling_server_pings_and_a_pong_keeps_the_session(base):
    sid, _ = handshake(base, FAST)
    for _ in range(2):
        assert get(base, FAST, sid)[::2] == (200, b"2")
        assert post(base, FAST, sid, "3")[::2] == (200, b"ok")


def test_v4_polling_a_missed_pong_ends_the_waiting_poll_with_a_close(base):
    sid, _ = handshake(base, FAST)
    assert get(base, FAST, sid)[::2] == (200, b"2")
    started = time.monotonic()
    assert get(base, FAST, sid)[::2] == (200, b"1")  # the ping went unanswered
    assert time.monotonic() - started < 1.5


def test_v3_polling_a_client_that_never_pings_has_its_waiting_poll_closed(base):
    sid, _ = handshake(base, FAST, eio=3, b64=1)
    started = time.monotonic()
    assert get(base, FAST, sid, eio=3, b64=1)[2].endswith(b"1:1")
    assert time.monotonic() - started < 2


def test_v4_websocket_only_session_opens_with_no_upgrades(base):
    ws = WSClient(base, url(EIO, transport="websocket"))
    assert re.fullmatch(r'0\{' + SID.decode() + r',"upgrades":\[\],"pingInterval":25000,'
                        r'"pingTimeout":20000,"maxPayload":1000000\}', ws.receive())
    ws.close()


def test_v4_websocket_echoes_a_text_frame_and_a_binary_frame(base):
    ws = WSClient(base, url(EIO, transport="websocket"))
    ws.receive()
    ws.send("4hello")
    assert ws.receive() == "4hello"
    ws.send(b"\x01\x02\x03\x04")
    assert ws.receive() == b"\x01\x02\x03\x04"
    ws.close()


def test_v4_websocket_server_pings_with_exactly_2(base):
    ws = WSClient(base, url(FAST, transport="websocket"))
    ws.receive()
    for _ in range(2):
        assert ws.receive() == "2"
        ws.send("3")
    ws.close()


def test_v4_websocket_client_close_ends_the_connection(base):
    ws = WSClient(base, url(EIO, transport="websocket"))
    ws.receive()
    ws.send("1")
    assert ws.expect_closed() == []


def test_v4_upgrade_ends_the_waiting_poll_with_one_6_and_no_6_reaches_the_websocket(routers, base):
    sid, _ = handshake(base, EIO)
    poll = waiting_get(routers, base, sid)
    ws = WSClient(base, url(EIO, transport="websocket", sid=sid))
    ws.send("2probe")
    assert ws.receive() == "3probe"
    assert poll.get(timeout=5)[::2] == (200, b"6")
    ws.send("5")
    ws.send("4hello")
    assert ws.receive() == "4hello"
    assert ws.nothing_within(0.2)
    ws.close()


def test_v4_packets_queued_before_the_upgrade_arrive_over_the_websocket(routers, base):
    sid, _ = handshake(base, EIO)
    ws = WSClient(base, url(EIO, transport="websocket", sid=sid))
    ws.send("2probe")
    assert ws.receive() == "3probe"
    assert post(base, EIO, sid, "4queued")[::2] == (200, b"ok")  # echoed into the outbox
    ws.send("5")
    assert ws.receive() == "4queued"
    ws.close()


def test_v4_socketio_connect_and_echo_over_websocket(base):
    ws = WSClient(base, url(SIO, transport="websocket"))
    ws.receive()
    ws.send("40")
    assert re.fullmatch("40{" + SID.decode() + "}", ws.receive())
    ws.send('42["message","hi"]')
    assert ws.receive() == '42["message","hi"]'
    ws.close()


# =========================================================================== Engine.IO 3

def test_v3_polling_handshake_is_a_length_prefixed_open_packet_without_max_payload(base):
    status, headers, body = request(base, "GET", url(EIO, eio=3))
    assert (status, headers["content-type"]) == (200, TEXT)
    assert re.fullmatch(rb'97:0\{' + SID + rb',"upgrades":\["websocket"\],'
                        rb'"pingInterval":25000,"pingTimeout":20000\}', body), body


def test_v3_polling_echoes_a_base64_text_payload_when_b64_is_asked(base):
    sid, _ = handshake(base, EIO, eio=3, b64=1)
    payload = "6:4hello10:b4AQIDBA=="
    assert post(base, EIO, sid, payload, eio=3, b64=1)[::2] == (200, b"ok")
    status, headers, body = get(base, EIO, sid, eio=3, b64=1)
    assert (status, headers["content-type"], body) == (200, TEXT, payload.encode())


def test_v3_polling_sends_a_binary_payload_when_a_packet_is_binary(base):
    sid, _ = handshake(base, EIO, eio=3)
    assert post(base, EIO, sid, "6:4hello10:b4AQIDBA==", eio=3)[::2] == (200, b"ok")
    status, headers, body = get(base, EIO, sid, eio=3)
    assert headers["content-type"] == "application/octet-stream"
    assert body == bytes([0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4])


def test_v3_polling_accepts_a_binary_payload(base):
    sid, _ = handshake(base, EIO, eio=3, b64=1)
    body = bytes([0, 6, 255]) + b"4hello" + bytes([1, 5, 255, 4, 1, 2, 3, 4])
    assert post(base, EIO, sid, body, eio=3, content_type="application/octet-stream")[::2] \
        == (200, b"ok")
    assert get(base, EIO, sid, eio=3, b64=1)[2] == b"6:4hello10:b4AQIDBA=="


def test_v3_polling_client_ping_is_answered_with_a_pong(base):
    sid, _ = handshake(base, EIO, eio=3, b64=1)
    assert post(base, EIO, sid, "5:2ping", eio=3)[::2] == (200, b"ok")
    assert get(base, EIO, sid, eio=3, b64=1)[2] == b"5:3ping"


def test_v3_jsonp_polling_wraps_payloads_in_the_indexed_callback(base):
    status, headers, body = request(base, "GET", url(EIO, eio=3, j=4))
    assert headers["content-type"] == "text/javascript; charset=UTF-8"
    match = re.fullmatch(rb'___eio\[4\]\("97:0\{\\"sid\\":\\"([A-Za-z0-9_-]{20})\\",.*\}"\);',
                         body)
    assert match, body
    sid = match.group(1).decode()
    form = b"d=" + b"6%3A4hello"  # d=<payload>, form-encoded
    assert request(base, "POST", url(EIO, eio=3, sid=sid, j=4), body=form,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})[::2] \
        == (200, b"ok")
    assert get(base, EIO, sid, eio=3, j=4)[2] == b'___eio[4]("6:4hello");'


def test_v3_websocket_opens_without_max_payload_and_answers_pings(base):
    ws = WSClient(base, url(EIO, eio=3, transport="websocket"))
    assert re.fullmatch(r'0\{' + SID.decode() + r',"upgrades":\[\],"pingInterval":25000,'
                        r'"pingTimeout":20000\}', ws.receive())
    ws.send("2")
    assert ws.receive() == "3"
    ws.close()


def test_v3_websocket_binary_frames_carry_a_type_byte(base):
    ws = WSClient(base, url(EIO, eio=3, transport="websocket"))
    ws.receive()
    ws.send(b"\x04\x01\x02\x03\x04")
    assert ws.receive() == b"\x04\x01\x02\x03\x04"
    ws.close()


def test_v3_upgrade_ends_the_waiting_poll_with_one_6_and_no_6_reaches_the_websocket(routers, base):
    sid, _ = handshake(base, EIO, eio=3, b64=1)
    poll = waiting_get(routers, base, sid, eio=3, b64=1)
    ws = WSClient(base, url(EIO, eio=3, transport="websocket", sid=sid))
    ws.send("2probe")
    assert ws.receive() == "3probe"
    assert poll.get(timeout=5)[::2] == (200, b"1:6")
    ws.send("5")
    ws.send("4hello")
    assert ws.receive() == "4hello"
    assert ws.nothing_within(0.2)
    ws.close()


def test_v3_socketio_is_connected_to_the_main_namespace_at_once(base):
    sid, _ = handshake(base, SIO, eio=3, b64=1)
    packets = b""
    while b"2:40" not in packets:
        packets += get(base, SIO, sid, eio=3, b64=1)[2]
    assert packets == b"2:40"
    assert post(base, SIO, sid, '18:42["message","hi"]', eio=3)[::2] == (200, b"ok")
    assert get(base, SIO, sid, eio=3, b64=1)[2] == b'18:42["message","hi"]'


def test_every_packet_joins_with_the_v4_separator(base):
    # the separator is a single 0x1E byte, never escaped or doubled
    sid, _ = handshake(base, EIO)
    post(base, EIO, sid, RS.join(["4a", "4b", "4c"]))
    assert get(base, EIO, sid)[2] == b"4a\x1e4b\x1e4c"
