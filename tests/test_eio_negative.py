"""Engine.IO at the HTTP level: every malformed, misplaced or hostile request gets node
engine.io's answer (status, exact body), and never disturbs anyone else.

One live server serves a raw Engine.IO echo at /engine.io/ (default heartbeats), a
Socket.IO echo at /fast/ (pingInterval 300 ms, pingTimeout 200 ms) and a Socket.IO echo
at /socket.io/ where two bystanders (one on WebSocket, one on polling) stay connected for
the whole module; after every test both must still get their echo.
"""
import socket
import time

import gevent
import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.eio_client import (RS, WSClient, echo_engine_router, error, get,
                                handshake, open_packet, post, url, wait_until)
from helpers.server import make_application, serve
from helpers.wire import request

pytestmark = pytest.mark.timeout(20)

EIO = "engine.io"
FAST = "fast"
SIO = "socket.io"
JSON = "application/json"


class Server:
    def __init__(self, base, routers, fast_events):
        self.base = base
        self.routers = routers
        self.fast_events = fast_events

    def session(self, sid, resource=EIO):
        """The server-side session (None once it is closed)."""
        return self.routers[resource].sessions.get(sid)

    def wait_for_get(self, sid, resource=EIO):
        """Until a polling GET is waiting on the session."""
        wait_until(lambda: getattr(self.session(sid, resource), "get_active", False))


@pytest.fixture(scope="module")
def server():
    fast_events = Recorder()
    routers = {
        EIO: echo_engine_router(EIO, cors_allowed_origins="*"),
        FAST: geventio.get_router(echo_handler(fast_events), resource=FAST,
                                  settings=dict(ping_interval=0.3, ping_timeout=0.2)),
        SIO: geventio.get_router(echo_handler(Recorder()), resource=SIO),
    }
    with serve(make_application(list(routers.values()))) as base:
        yield Server(base, routers, fast_events)


class Bystanders:
    """A Socket.IO client on WebSocket and one on polling, connected to '/'."""

    def __init__(self, base):
        self.base = base
        self.ws = WSClient(base, url(SIO, transport="websocket"))
        assert self.ws.receive().startswith("0{")
        self.ws.send("40")
        assert self.ws.receive().startswith('40{"sid":')
        self.sid, _ = handshake(base, SIO)
        assert post(base, SIO, self.sid, "40")[2] == b"ok"
        assert get(base, SIO, self.sid)[2].startswith(b'40{"sid":')
        self.rounds = 0

    def check(self):
        self.rounds += 1
        text = '42["message","still here %d"]' % self.rounds
        self.ws.send(text)
        while True:
            message = self.ws.receive()
            if message == "2":  # a heartbeat may fall in a long run
                self.ws.send("3")
                continue
            assert message == text
            break
        assert post(self.base, SIO, self.sid, text)[:3:2] == (200, b"ok")
        while True:
            status, _, body = get(self.base, SIO, self.sid)
            assert status == 200, body
            packets = body.decode().split(RS)
            if "2" in packets:
                post(self.base, SIO, self.sid, "3")
                packets.remove("2")
            if packets:
                assert packets == [text]
                break


@pytest.fixture(scope="module")
def bystanders(server):
    b = Bystanders(server.base)
    yield b
    b.ws.close()


@pytest.fixture(autouse=True)
def others_unharmed(bystanders):
    yield
    bystanders.check()


def assert_error(response, code, message):
    status, headers, body = response
    assert (status, headers["content-type"], body) == (400, JSON, error(code, message))


def assert_gone(server, sid):
    assert_error(get(server.base, EIO, sid), 1, "Session ID unknown")


# --------------------------------------------------------------------------- handshake errors

def test_get_with_an_unknown_sid_is_400_session_id_unknown(server):
    assert_error(get(server.base, EIO, "nope"), 1, "Session ID unknown")


def test_post_with_an_unknown_sid_is_400_session_id_unknown(server):
    assert_error(post(server.base, EIO, "nope", "4hello"), 1, "Session ID unknown")


@pytest.mark.parametrize("query", ["transport=polling", "EIO=abc&transport=polling",
                                   "EIO=2&transport=polling", "EIO=5&transport=polling"])
def test_a_missing_or_unsupported_eio_is_400_code_5(server, query):
    response = request(server.base, "GET", "/%s/?%s" % (EIO, query))
    assert_error(response, 5, "Unsupported protocol version")


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc", "EIO=4&transport=",
                                   "EIO=4&transport=webtransport"])
def test_a_missing_or_unknown_transport_is_400_code_0(server, query):
    response = request(server.base, "GET", "/%s/?%s" % (EIO, query))
    assert_error(response, 0, "Transport unknown")


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_handshake_that_is_not_a_get_is_400_code_2(server, method):
    response = request(server.base, method, url(EIO), body=b"4hello")
    assert_error(response, 2, "Bad handshake method")


def test_transport_websocket_without_an_upgrade_is_400_code_3(server):
    response = request(server.base, "GET", url(EIO, transport="websocket"))
    assert_error(response, 3, "Bad request")


# --------------------------------------------------------------------------- polling misuse

def test_a_duplicate_get_is_400_and_closes_the_session_and_the_first_get_answers_1(server):
    sid, _ = handshake(server.base, EIO)
    first = gevent.spawn(get, server.base, EIO, sid)
    server.wait_for_get(sid)
    status, _, _ = get(server.base, EIO, sid)
    assert status == 400
    assert first.get(timeout=5)[::2] == (200, b"1")
    assert_gone(server, sid)


def test_an_oversized_post_is_413_and_the_session_is_kept(server):
    sid, _ = handshake(server.base, EIO)
    status, _, _ = post(server.base, EIO, sid, "4" + "x" * 1_000_000)
    assert status == 413
    assert post(server.base, EIO, sid, "4after")[::2] == (200, b"ok")
    assert get(server.base, EIO, sid)[::2] == (200, b"4after")


@pytest.mark.parametrize("body", [b"abc", b"", b"4hello\x1e", b"9", b"b!!!", b"\xff\xfe4x",
                                  b"4a\x1e\x1e4b", b"bAQIDBA"],
                         ids=["unknown-type", "empty", "trailing-separator", "type-9",
                              "bad-base64", "not-utf8", "empty-packet", "unpadded-base64"])
def test_a_garbage_payload_is_400_and_closes_the_session(server, body):
    sid, _ = handshake(server.base, EIO)
    status, _, _ = post(server.base, EIO, sid, body)
    assert status == 400
    assert_gone(server, sid)


def test_an_octet_stream_post_in_v4_is_400_and_closes_the_session(server):
    sid, _ = handshake(server.base, EIO)
    status, _, _ = post(server.base, EIO, sid, b"\x04hello",
                        content_type="application/octet-stream")
    assert status == 400
    assert_gone(server, sid)


def test_a_client_close_answers_the_waiting_get_with_6(server):
    sid, _ = handshake(server.base, EIO)
    waiting = gevent.spawn(get, server.base, EIO, sid)
    server.wait_for_get(sid)
    assert post(server.base, EIO, sid, "1")[::2] == (200, b"ok")
    assert waiting.get(timeout=5)[::2] == (200, b"6")
    assert_gone(server, sid)


def test_an_aborted_get_closes_the_session(server):
    sid, _ = handshake(server.base, EIO)
    sock = socket.create_connection(("127.0.0.1", int(server.base.rsplit(":", 1)[1])))
    sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url(EIO, sid=sid)).encode())
    server.wait_for_get(sid)
    sock.close()
    wait_until(lambda: server.session(sid) is None)
    assert_gone(server, sid)


# --------------------------------------------------------------------------- after an upgrade

def upgraded(server):
    """A polling session upgraded to a WebSocket: (sid, the WebSocket)."""
    sid, _ = handshake(server.base, EIO)
    ws = WSClient(server.base, url(EIO, transport="websocket", sid=sid))
    ws.send("2probe")
    assert ws.receive() == "3probe"
    ws.send("5")
    wait_until(lambda: server.session(sid).upgraded)
    return sid, ws


def test_polling_requests_with_an_upgraded_sid_are_400(server):
    sid, ws = upgraded(server)
    assert_error(get(server.base, EIO, sid), 3, "Bad request")
    assert_error(post(server.base, EIO, sid, "4x"), 3, "Bad request")
    ws.send("4still open")
    assert ws.receive() == "4still open"
    ws.close()


def test_a_second_websocket_on_an_upgraded_sid_is_closed(server):
    sid, ws = upgraded(server)
    second = WSClient(server.base, url(EIO, transport="websocket", sid=sid))
    assert second.expect_closed() == []
    ws.send("4first")
    assert ws.receive() == "4first"
    ws.close()


# --------------------------------------------------------------------------- heartbeats

def test_a_missing_pong_closes_the_session_on_time_without_any_request(server):
    events = server.fast_events
    closed_before = events.count("close")
    sid, _ = handshake(server.base, FAST)
    opened = time.monotonic()
    assert post(server.base, FAST, sid, "40")[::2] == (200, b"ok")
    # no GET, no pong: the timers alone must end it, pingInterval + pingTimeout later
    events.wait_for(lambda: events.count("close") > closed_before, timeout=3)
    assert 0.45 <= time.monotonic() - opened < 1.5
    assert_error(get(server.base, FAST, sid), 1, "Session ID unknown")


def test_the_handshake_advertises_a_sub_second_ping_interval_exactly(server):
    status, headers, body = request(server.base, "GET", url(FAST))
    sid = open_packet(body)["sid"]
    assert status == 200
    assert body == (b'0{"sid":"%s","upgrades":["websocket"],"pingInterval":300,'
                    b'"pingTimeout":200,"maxPayload":1000000}' % sid.encode())


# --------------------------------------------------------------------------- exact replies

def test_a_post_is_answered_with_exactly_ok(server):
    sid, _ = handshake(server.base, EIO)
    status, headers, body = post(server.base, EIO, sid, "4hello")
    assert (status, body, headers["content-length"]) == (200, b"ok", "2")


def test_connection_close_is_echoed_when_the_request_asks_for_it(server):
    port = int(server.base.rsplit(":", 1)[1])
    for path in (url(EIO), url(EIO, sid="nope")):  # a handshake and an error
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        response = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break  # the server closed, as it said it would
            response += chunk
        sock.close()
        head = response.split(b"\r\n\r\n", 1)[0].lower()
        assert b"\r\nconnection: close\r\n" in head + b"\r\n"


def test_a_post_with_500_packets_is_fully_processed(server):
    sid, _ = handshake(server.base, EIO)
    payload = RS.join("4m%d" % i for i in range(500))
    assert post(server.base, EIO, sid, payload)[::2] == (200, b"ok")
    assert get(server.base, EIO, sid)[::2] == (200, payload.encode())


# --------------------------------------------------------------------------- Engine.IO 3

@pytest.mark.parametrize("index", ["alert(1)", "0x1", "-1", "1e3", "", "1234567"])
def test_an_eio3_jsonp_index_must_be_a_few_digits(server, index):
    response = request(server.base, "GET", url(EIO, eio=3, j=index))
    assert_error(response, 3, "Bad request")


def test_eio3_text_payload_lengths_count_utf16_code_units(server):
    sid, _ = handshake(server.base, EIO, eio=3, b64=1)
    payload = "3:4\U0001F600"  # "4😀" is 3 UTF-16 code units (2 code points, 5 bytes)
    assert post(server.base, EIO, sid, payload, eio=3, b64=1)[::2] == (200, b"ok")
    assert get(server.base, EIO, sid, eio=3, b64=1)[::2] == (200, payload.encode("utf-8"))
