"""The 0.6 websocket transport, spoken byte for byte as the 0.6 client's websocket.js does.

The client opens ``ws://host:port/socket.io/websocket`` (no session id) and each WebSocket
text message carries one payload of ``~m~`` frames; the first message from the server is
the session id. A modern browser speaks RFC 6455 (masked frames); Safari <= 5 and the Flash
bridge of the flashsocket transport speak hixie-76 (``\\x00``...``\\xff`` frames), the only
framing the reference server knows (transcripts-0.6/websocket.txt).

:class:`WebSocket06Behaviour` is what both socket transports must do, over both framings;
test_flashsocket.py runs it for flashsocket.
"""
import gevent
import pytest

import geventio
from helpers.apps import Recorder
from helpers.server import make_application, serve
from helpers.wire import request
from helpers.wire06 import (WS_ANSWER, WS_KEY1, WS_KEY2, WS_KEY3, Hixie76Client, Peer,
                            RFC6455Client, encode, heartbeat_number)

PAGE_ORIGIN = "http://127.0.0.1:9999"
FAST = {"heartbeat_interval": 0.2, "max_missed_heartbeats": 5, "session_expiry": 0.5,
        "session_check_interval": 0.1, "cors_allowed_origins": [PAGE_ORIGIN]}


class Echo(geventio.SocketConnection):
    """Echoes every message; "flush and close" sends two last words, then closes."""

    recorder = None

    def on_open(self, request, *args, **kwargs):
        self.recorder.connections.append(self)
        self.recorder.events.append(("open", self.session_id))

    def on_message(self, message):
        self.recorder.events.append(("message", message))
        if message == "flush and close":
            self.send("last words")
            self.send({"really": "last"})
            self.close()
        else:
            self.send(message)

    def on_close(self):
        self.recorder.events.append(("close", self.session_id))


class WebSocket06Behaviour:
    """What the 0.6 websocket and flashsocket transports do, over RFC 6455 and hixie-76."""

    transport = None  # set by the subclass

    @pytest.fixture(params=["rfc6455", "hixie76"])
    def framing(self, request):
        return request.param

    @pytest.fixture
    def recorder(self):
        return Recorder()

    @pytest.fixture
    def start(self, recorder, framing):
        """start(**settings) -> (base URL, connect()) for a fresh server."""
        handler = type("Echo", (Echo,), {"recorder": recorder})
        servers = []

        def start(**settings):
            router = geventio.get_router(handler, dict(FAST, **settings))
            server = serve(make_application([router.route()]))
            servers.append(server)
            base = server.__enter__()
            return base, lambda: Peer(base, self.transport, framing, PAGE_ORIGIN)
        yield start
        for server in servers:
            server.__exit__(None, None, None)

    @pytest.fixture
    def connect(self, start):
        return start()[1]

    def test_the_first_message_is_the_session_id_alone(self, connect):
        peer = connect()
        try:
            assert peer.first[:len("~m~20~m~")] == "~m~20~m~"
            assert len(peer.first) == len("~m~20~m~") + 20
        finally:
            peer.close()

    def test_text_is_echoed(self, connect, recorder):
        peer = connect()
        try:
            peer.send("~m~5~m~hello")
            assert peer.user_messages() == ["hello"]
            assert ("message", "hello") in recorder.events
        finally:
            peer.close()

    def test_json_is_decoded_for_the_handler_and_echoed_as_json(self, connect, recorder):
        peer = connect()
        try:
            peer.send('~m~26~m~~j~{"a":1,"b":[true,null]}')
            assert peer.user_messages() == ['~j~{"a":1,"b":[true,null]}']
            assert ("message", {"a": 1, "b": [True, None]}) in recorder.events
        finally:
            peer.close()

    def test_non_bmp_unicode_round_trips_with_utf16_lengths(self, connect, recorder):
        peer = connect()
        try:
            peer.send("~m~4~m~é中😀")  # 'é中😀'.length == 4 in JavaScript
            assert peer.ws.recv() == "~m~4~m~é中😀"
            assert ("message", "é中😀") in recorder.events
        finally:
            peer.close()

    def test_a_batch_of_two_frames_in_one_message_is_two_messages(self, connect, recorder):
        peer = connect()
        try:
            peer.send("~m~3~m~one~m~3~m~two")
            assert peer.user_messages(2) == ["one", "two"]
            assert [e for e in recorder.events if e[0] == "message"] == [
                ("message", "one"), ("message", "two")]
        finally:
            peer.close()

    def test_a_100_kb_message_round_trips(self, connect, recorder):
        big = ("0123456789abcdefé中😀" * 6000)[:100_000]
        peer = connect()
        try:
            peer.send(encode(big))
            assert peer.user_messages() == [big]
        finally:
            peer.close()

    def test_heartbeats_arrive_and_an_echo_earns_the_next(self, connect):
        peer = connect()
        try:
            assert peer.messages() == ["~h~1"]
            peer.send("~m~4~m~~h~1")
            assert peer.messages() == ["~h~2"]
        finally:
            peer.close()

    def test_a_client_that_never_echoes_heartbeats_is_closed(self, start, recorder):
        _, connect = start(max_missed_heartbeats=2)
        peer = connect()
        try:
            assert peer.until_closed() == ["~h~1", "~h~2"]
            assert peer.ws.closed_by_server()
            recorder.wait_for(lambda: recorder.count("close") == 1)
            gevent.sleep(0.3)
            assert recorder.count("close") == 1
        finally:
            peer.close()

    def test_a_client_that_echoes_heartbeats_stays_connected(self, connect, recorder):
        peer = connect()
        try:
            beats = 0
            while beats < 6:  # three times the misses allowed
                for message in peer.messages():
                    number = heartbeat_number(message)
                    if number is not None:
                        beats += 1
                        peer.send(encode("~h~%d" % number))
            peer.send(encode("still here"))
            assert peer.user_messages() == ["still here"]
            assert recorder.count("close") == 0
        finally:
            peer.close()

    def test_a_heartbeat_echo_and_messages_in_one_payload_are_all_processed(self, connect):
        peer = connect()
        try:
            assert peer.messages() == ["~h~1"]
            peer.send("~m~4~m~~h~1~m~3~m~one~m~3~m~two")
            assert peer.user_messages(2) == ["one", "two"]
        finally:
            peer.close()

    def test_client_close_is_answered_and_ends_the_session_once(self, connect, recorder):
        peer = connect()
        try:
            peer.ws.send_close(1000)
            assert peer.until_closed() == []  # the server answers with its close frame
            assert peer.ws.close_code in (1000, "hixie-76 close")
            assert peer.ws.closed_by_server()
            recorder.wait_for(lambda: recorder.count("close") == 1)
            gevent.sleep(0.3)
            assert recorder.count("close") == 1
        finally:
            peer.close()

    def test_a_dropped_connection_ends_the_session_once(self, connect, recorder):
        peer = connect()
        peer.close()
        recorder.wait_for(lambda: recorder.count("close") == 1)
        gevent.sleep(0.3)
        assert recorder.count("close") == 1

    def test_server_side_close_flushes_queued_messages_then_sends_the_close_frame(
            self, connect, recorder):
        peer = connect()
        try:
            peer.send(encode("flush and close"))
            received = [m for m in peer.until_closed() if heartbeat_number(m) is None]
            assert received == ["last words", '~j~{"really":"last"}']
            assert peer.ws.close_code in (1000, "hixie-76 close")
            recorder.wait_for(lambda: recorder.count("close") == 1)
        finally:
            peer.close()

    def test_a_malformed_payload_closes_that_session_only(self, connect, recorder):
        peer, other = connect(), connect()
        try:
            peer.send("this is not ~m~ framed")
            assert all(heartbeat_number(m) for m in peer.until_closed())
            assert peer.ws.close_code in (1002, "hixie-76 close")
            recorder.wait_for(lambda: ("close", peer.sid) in recorder.events)
            other.send(encode("unaffected"))
            assert other.user_messages() == ["unaffected"]
            assert ("close", other.sid) not in recorder.events
        finally:
            peer.close()
            other.close()

    def test_a_binary_message_closes_that_session_only(self, connect, recorder, framing):
        peer, other = connect(), connect()
        try:
            if framing == "rfc6455":
                peer.ws.send_binary(b"~m~5~m~hello")
                expected_code = 1003
            else:  # a hixie-76 binary frame: type 0x80, length, data
                peer.ws.send_raw(b"\x80\x05hello")
                expected_code = "hixie-76 close"
            peer.until_closed()
            assert peer.ws.close_code == expected_code
            recorder.wait_for(lambda: ("close", peer.sid) in recorder.events)
            other.send(encode("unaffected"))
            assert other.user_messages() == ["unaffected"]
        finally:
            peer.close()
            other.close()

    def test_a_message_over_max_http_buffer_size_is_refused(self, start, recorder, framing):
        _, connect = start(max_http_buffer_size=1000)
        peer, other = connect(), connect()
        try:
            peer.send(encode("x" * 2000))
            peer.until_closed()
            assert peer.ws.close_code == (1009 if framing == "rfc6455" else "hixie-76 close")
            assert ("message", "x" * 2000) not in recorder.events
            recorder.wait_for(lambda: ("close", peer.sid) in recorder.events)
            other.send(encode("small"))
            assert other.user_messages() == ["small"]
        finally:
            peer.close()
            other.close()


class TestWebSocket(WebSocket06Behaviour):
    transport = "websocket"


# -- the opening handshakes ---------------------------------------------------------------


@pytest.fixture
def server():
    handler = type("Echo", (Echo,), {"recorder": Recorder()})
    router = geventio.get_router(handler, FAST)
    with serve(make_application([router.route()])) as base:
        yield base


def test_rfc6455_handshake_answers_101_with_the_accept_key(server):
    ws = RFC6455Client(server, "/socket.io/websocket", headers={"Origin": PAGE_ORIGIN})
    try:
        assert ws.status_line == "HTTP/1.1 101 Switching Protocols"
        assert ws.headers["upgrade"].lower() == "websocket"
        assert ws.headers["connection"].lower() == "upgrade"
        assert ws.headers["sec-websocket-accept"] == ws.expected_accept
        assert ws.recv().startswith("~m~20~m~")
    finally:
        ws.close()


def test_hixie76_handshake_of_the_transcript_is_answered_exactly(server):
    ws = Hixie76Client(server, "/socket.io/websocket", host="127.0.0.1:18073",
                       key1=WS_KEY1, key2=WS_KEY2, key3=WS_KEY3, cookie=False)
    try:
        assert ws.status_line == "HTTP/1.1 101 WebSocket Protocol Handshake"
        assert [h for h in ws.header_list if h[0] != "Date"] == [
            ("Upgrade", "WebSocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Origin", "http://127.0.0.1:9999"),
            ("Sec-WebSocket-Location", "ws://127.0.0.1:18073/socket.io/websocket"),
        ]
        assert ws.answer == WS_ANSWER
        first = ws.reader.read(len("\x00~m~20~m~") + 20 + 1, 5)
        assert first.startswith(b"\x00~m~20~m~") and first.endswith(b"\xff")
    finally:
        ws.close()


def test_a_session_id_in_the_url_of_an_unknown_session_gets_404(server):
    ws = Hixie76Client(server, "/socket.io/websocket/0000000bogus", origin=PAGE_ORIGIN)
    try:
        assert ws.status == 404
    finally:
        ws.close()
    ws = RFC6455Client(server, "/socket.io/websocket/0000000bogus",
                       headers={"Origin": PAGE_ORIGIN})
    try:
        assert ws.status == 404
    finally:
        ws.close()


def test_a_plain_get_without_upgrade_is_refused(server):
    status, _, _ = request(server, "GET", "/socket.io/websocket")
    assert status == 400


def test_a_page_from_an_origin_not_allowed_is_refused_before_the_upgrade(server):
    ws = RFC6455Client(server, "/socket.io/websocket", headers={"Origin": "http://evil.example"})
    try:
        assert ws.status == 403
    finally:
        ws.close()
