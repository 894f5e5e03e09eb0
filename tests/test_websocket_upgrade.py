"""geventio.wsio over a real gevent pywsgi server, driven by raw-socket clients."""
import base64
import io
import re
import struct
import time

import gevent
import gevent.socket
import pytest
from gevent.pywsgi import WSGIServer

from geventio.wsio import (
    HandshakeError, Hixie76WebSocket, RFC6455WebSocket, WebSocketClosed, upgrade,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
MASK = b"\x11\x22\x33\x44"
SMALL = 1024  # max_message_size on /small

# The hixie-76 request of shared/reference/transcripts-0.6/websocket.txt, byte for byte.
HIXIE_REQUEST = (
    b"GET /socket.io/websocket HTTP/1.1\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Host: 127.0.0.1:18073\r\n"
    b"Origin: http://127.0.0.1:9999\r\n"
    b"Sec-WebSocket-Key1: 7 0\"31   1  97  3/6L\r\n"
    b"Sec-WebSocket-Key2: 15 8ELLd')3t549465\r\n"
    b"\r\n"
    b"\x8a\xf2+ \x12X\xbd\xf1"
)
# The reference server's answer (transcript), to which pywsgi adds its Date header.
HIXIE_RESPONSE = (
    b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Origin: http://127.0.0.1:9999\r\n"
    b"Sec-WebSocket-Location: ws://127.0.0.1:18073/socket.io/websocket\r\n"
    b"\r\n"
    b'\x1b#\xdb\\\xa2\x86A\xa8(@;\x07\xeb"|&'
)


# --------------------------------------------------------------------------- the server side

class EchoApp:
    """Echoes every message; a few paths vary the behaviour. Records how each socket ended."""

    def __init__(self):
        self.ended = []  # (path, ws.closed) once the receive loop got None

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        try:
            ws = upgrade(environ, start_response,
                         max_message_size=SMALL if path == "/small" else 1_000_000,
                         handshake_timeout=1.0, close_timeout=1.0)
        except HandshakeError as exc:
            body = str(exc).encode()
            start_response(exc.status, [("Content-Type", "text/plain"),
                                        ("Content-Length", str(len(body)))] + exc.headers)
            return [body]
        if path == "/bye":
            ws.send("bye")
            ws.close(4000, "done")
        while True:
            message = ws.receive()
            if message is None:
                break
            if path == "/many":
                ws.send_many([message, message, message])
            elif path == "/close-from-another-greenlet":
                gevent.spawn(ws.close, 1001, "going away")
            else:
                ws.send(message)
        self.ended.append((path, ws.closed))
        return []


@pytest.fixture
def app():
    return EchoApp()


@pytest.fixture
def server(app):
    srv = WSGIServer(("127.0.0.1", 0), app, log=None)
    srv.start()
    yield srv
    srv.stop(timeout=1)


# --------------------------------------------------------------------------- a raw client

class Client:
    def __init__(self, server):
        self.sock = gevent.socket.create_connection(("127.0.0.1", server.server_port), timeout=3)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buffer += chunk

    def read_exact(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_until(self, marker):
        while marker not in self.buffer:
            self._fill()
        end = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def read_http_response(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status, *lines = head[:-4].split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.read_exact(int(headers.get("content-length", 0)))
        return status, headers, body

    def rest(self):
        """Everything the server sends until it closes the connection."""
        data, self.buffer = self.buffer, b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except ConnectionResetError:
            return data

    # RFC 6455
    def handshake(self, path="/echo", version="13", key=KEY):
        self.send(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: %s\r\n\r\n" % (path, key, version)).encode())
        return self.read_http_response()

    def send_frame(self, opcode, payload=b"", fin=True, masked=True):
        self.send(client_frame(opcode, payload, fin=fin, masked=masked))

    def read_frame(self):
        b0, b1 = self.read_exact(2)
        assert not b1 & 0x80, "server frames must not be masked"
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.read_exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self.read_exact(8))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self.read_exact(length)

    def read_close(self):
        fin, opcode, payload = self.read_frame()
        assert opcode == 0x8, "expected a close frame, got opcode %d" % opcode
        code = struct.unpack("!H", payload[:2])[0] if payload else None
        return code, payload[2:].decode("utf-8")

    def close(self):
        self.sock.close()


def client_frame(opcode, payload=b"", fin=True, masked=True, length=None):
    """A client frame built by hand (independently of the code under test)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    return head + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


@pytest.fixture
def connect(server):
    clients = []

    def make():
        client = Client(server)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def ws(connect):
    client = connect()
    status, headers, _ = client.handshake()
    assert status == "HTTP/1.1 101 Switching Protocols"
    return client


def wait_for(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.01)
    return True


# --------------------------------------------------------------------------- RFC 6455

def test_rfc6455_handshake_answers_101_with_accept_key(connect):
    status, headers, _ = connect().handshake()
    assert status == "HTTP/1.1 101 Switching Protocols"
    assert headers["upgrade"].lower() == "websocket"
    assert headers["connection"].lower() == "upgrade"
    assert headers["sec-websocket-accept"] == ACCEPT
    assert "transfer-encoding" not in headers and "content-length" not in headers


@pytest.mark.parametrize("version", ["8", "7"])
def test_hybi_drafts_8_and_7_are_upgraded(connect, version):
    client = connect()
    assert client.handshake(version=version)[0] == "HTTP/1.1 101 Switching Protocols"
    client.send_frame(0x1, b"draft")
    assert client.read_frame() == (True, 0x1, b"draft")


def test_text_message_is_echoed_as_text(ws):
    ws.send_frame(0x1, "héllo 😀".encode())
    assert ws.read_frame() == (True, 0x1, "héllo 😀".encode())


def test_binary_message_is_echoed_as_binary(ws):
    ws.send_frame(0x2, bytes(range(256)))
    assert ws.read_frame() == (True, 0x2, bytes(range(256)))


def test_message_of_70000_bytes_uses_64_bit_lengths_both_ways(ws):
    ws.send_frame(0x2, b"z" * 70000)
    assert ws.read_frame() == (True, 0x2, b"z" * 70000)


def test_fragmented_message_is_reassembled(ws):
    data = "fragments é中😀".encode()
    ws.send_frame(0x1, data[:5], fin=False)
    ws.send_frame(0x0, data[5:11], fin=False)  # splits a multi-byte character
    ws.send_frame(0x0, data[11:], fin=True)
    assert ws.read_frame() == (True, 0x1, data)


def test_ping_is_answered_by_pong_with_same_payload(ws):
    ws.send_frame(0x9, b"are you there")
    assert ws.read_frame() == (True, 0xA, b"are you there")


def test_ping_between_fragments_is_answered_before_the_message(ws):
    ws.send_frame(0x1, b"one ", fin=False)
    ws.send_frame(0x9, b"p")
    ws.send_frame(0x0, b"two", fin=True)
    assert ws.read_frame() == (True, 0xA, b"p")
    assert ws.read_frame() == (True, 0x1, b"one two")


def test_unsolicited_pong_is_ignored(ws):
    ws.send_frame(0xA, b"heartbeat")
    ws.send_frame(0x1, b"after")
    assert ws.read_frame() == (True, 0x1, b"after")


def test_send_many_sends_each_message_as_its_own_frame(connect):
    client = connect()
    client.handshake("/many")
    client.send_frame(0x1, b"x")
    assert [client.read_frame() for _ in range(3)] == [(True, 0x1, b"x")] * 3


def test_client_close_is_echoed_and_the_server_closes_tcp(ws, app):
    ws.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
    assert ws.read_close() == (1000, "")
    assert ws.rest() == b""
    assert wait_for(lambda: app.ended == [("/echo", True)])


def test_server_close_sends_code_and_reason_then_ends_the_connection(connect):
    client = connect()
    client.handshake("/bye")
    assert client.read_frame() == (True, 0x1, b"bye")
    assert client.read_close() == (4000, "done")
    assert client.rest() == b""


def test_close_while_another_greenlet_receives_completes_the_handshake(connect, app):
    client = connect()
    client.handshake("/close-from-another-greenlet")
    client.send_frame(0x1, b"please close")
    assert client.read_close() == (1001, "going away")
    client.send_frame(0x8, struct.pack("!H", 1001))
    assert client.rest() == b""
    assert wait_for(lambda: app.ended == [("/close-from-another-greenlet", True)])


def test_peer_that_never_answers_the_close_is_cut_off_after_close_timeout(connect, app):
    client = connect()
    client.handshake("/close-from-another-greenlet")
    client.send_frame(0x1, b"please close")
    assert client.read_close() == (1001, "going away")
    started = time.monotonic()
    assert client.rest() == b""
    assert 0.8 < time.monotonic() - started < 2.5  # close_timeout is 1 s
    assert wait_for(lambda: app.ended == [("/close-from-another-greenlet", True)])


def test_peer_dropping_tcp_ends_receive(connect, app):
    client = connect()
    client.handshake()
    client.sock.close()
    assert wait_for(lambda: app.ended == [("/echo", True)])


def test_oversize_frame_is_refused_with_1009_before_its_payload_is_read(connect):
    client = connect()
    client.handshake("/small")
    # Announce 2**62 bytes and send none: the server must answer without waiting for them.
    client.send(client_frame(0x2, length=2 ** 62)[:14])
    assert client.read_close()[0] == 1009
    assert client.rest() == b""


def test_message_growing_past_the_limit_across_fragments_is_refused_with_1009(connect):
    client = connect()
    client.handshake("/small")
    client.send_frame(0x2, b"a" * (SMALL - 10), fin=False)
    client.send_frame(0x0, b"b" * 20, fin=True)
    assert client.read_close()[0] == 1009


def test_message_of_exactly_the_limit_is_accepted(connect):
    client = connect()
    client.handshake("/small")
    client.send_frame(0x2, b"a" * SMALL)
    assert client.read_frame() == (True, 0x2, b"a" * SMALL)


def test_unmasked_client_frame_is_a_protocol_error_1002(ws):
    ws.send_frame(0x1, b"naked", masked=False)
    assert ws.read_close()[0] == 1002
    assert ws.rest() == b""


def test_invalid_utf8_text_is_closed_with_1007(ws):
    ws.send_frame(0x1, b"bad \xc3\x28")
    assert ws.read_close()[0] == 1007


def test_continuation_without_a_message_is_a_protocol_error_1002(ws):
    ws.send_frame(0x0, b"orphan")
    assert ws.read_close()[0] == 1002


def test_reserved_opcode_is_a_protocol_error_1002(ws):
    ws.send_frame(0x3, b"?")
    assert ws.read_close()[0] == 1002


# --------------------------------------------------------------------------- hixie-76

@pytest.fixture
def hixie(connect):
    client = connect()
    client.send(HIXIE_REQUEST)
    head = client.read_until(b"\r\n\r\n")
    client.read_exact(16)
    assert head.startswith(b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n")
    return client


def test_hixie76_handshake_matches_the_reference_server_byte_for_byte(connect):
    client = connect()
    client.send(HIXIE_REQUEST)
    answer = client.read_until(b"\r\n\r\n") + client.read_exact(16)
    without_date = re.sub(rb"Date: [^\r]*\r\n", b"", answer)
    assert without_date == HIXIE_RESPONSE


def test_hixie76_location_uses_host_path_and_query(connect):
    client = connect()
    client.send(HIXIE_REQUEST.replace(b"/socket.io/websocket", b"/socket.io/flashsocket?x=1")
                .replace(b"Host: 127.0.0.1:18073", b"Host: example.com"))
    head = client.read_until(b"\r\n\r\n")
    assert b"Sec-WebSocket-Location: ws://example.com/socket.io/flashsocket?x=1\r\n" in head


def test_hixie76_frame_is_echoed(hixie):
    hixie.send(b"\x00~m~5~m~hello\xff")
    assert hixie.read_until(b"\xff") == b"\x00~m~5~m~hello\xff"


def test_hixie76_non_bmp_text_is_echoed_intact(hixie):
    frame = b"\x00~m~4~m~" + "é中😀".encode() + b"\xff"
    hixie.send(frame)
    assert hixie.read_until(b"\xff") == frame


def test_hixie76_several_frames_in_one_segment_are_each_echoed(hixie):
    hixie.send(b"\x00one\xff\x00two\xff")
    assert hixie.read_until(b"\xff") + hixie.read_until(b"\xff") == b"\x00one\xff\x00two\xff"


def test_hixie76_frame_split_across_segments_is_echoed(hixie):
    hixie.send(b"\x00spl")
    gevent.sleep(0.05)
    hixie.send(b"it\xff")
    assert hixie.read_until(b"\xff") == b"\x00split\xff"


def test_hixie76_closing_handshake_is_answered_and_the_connection_ends(hixie, app):
    hixie.send(b"\xff\x00")
    assert hixie.read_exact(2) == b"\xff\x00"
    assert hixie.rest() == b""
    assert wait_for(lambda: app.ended == [("/socket.io/websocket", True)])


def test_hixie76_bad_frame_type_closes_the_connection(hixie):
    hixie.send(b"\x80\x01x")
    assert hixie.read_exact(2) == b"\xff\x00"
    assert hixie.rest() == b""


# --------------------------------------------------------------------------- bad handshakes

RFC_REQUEST = ("{method} /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n{upgrade}"
               "Connection: Upgrade\r\n{key}{version}Content-Length: 0\r\n\r\n")
GOOD = dict(method="GET", upgrade="Upgrade: websocket\r\n",
            key="Sec-WebSocket-Key: %s\r\n" % KEY, version="Sec-WebSocket-Version: 13\r\n")


@pytest.mark.parametrize("change, status", [
    (dict(method="POST"), "400"),
    (dict(upgrade=""), "400"),
    (dict(version=""), "426"),
    (dict(version="Sec-WebSocket-Version: 99\r\n"), "400"),
    (dict(key=""), "400"),
    (dict(key="Sec-WebSocket-Key: %s\r\n" % base64.b64encode(b"short").decode()), "400"),
], ids=["not-get", "no-upgrade-header", "no-version", "bad-version", "no-key", "short-key"])
def test_bad_rfc6455_handshake_gets_an_http_error(connect, change, status):
    client = connect()
    client.send(RFC_REQUEST.format(**dict(GOOD, **change)).encode())
    answer_status, headers, body = client.read_http_response()
    assert answer_status.split()[1] == status
    assert body  # says what was wrong


def test_missing_version_answer_lists_the_supported_versions(connect):
    client = connect()
    client.send(RFC_REQUEST.format(**dict(GOOD, version="")).encode())
    status, headers, _ = client.read_http_response()
    assert status.startswith("HTTP/1.1 426")
    assert headers["sec-websocket-version"] == "13, 8, 7"


def test_hixie76_key_without_spaces_gets_400(connect):
    client = connect()
    client.send(HIXIE_REQUEST.replace(b"Key1: 7 0\"31   1  97  3/6L", b"Key1: 70313197"))
    status, _, body = client.read_http_response()
    assert status.startswith("HTTP/1.1 400")
    assert b"no spaces" in body


def test_hixie76_short_key3_gets_400(connect):
    client = connect()
    client.send(HIXIE_REQUEST[:-4])
    client.sock.shutdown(gevent.socket.SHUT_WR)
    status, _, body = client.read_http_response()
    assert status.startswith("HTTP/1.1 400")
    assert b"8 bytes" in body


def test_hixie76_key3_that_never_comes_gets_400_after_the_handshake_timeout(connect):
    client = connect()
    client.send(HIXIE_REQUEST[:-8])  # headers only; the connection stays open
    started = time.monotonic()
    status, _, body = client.read_http_response()
    assert status.startswith("HTTP/1.1 400")
    assert b"timed out" in body
    assert 0.8 < time.monotonic() - started < 2.5  # handshake_timeout is 1 s


def test_server_keeps_serving_after_bad_handshakes(connect):
    for change in (dict(method="POST"), dict(version="")):
        bad = connect()
        bad.send(RFC_REQUEST.format(**dict(GOOD, **change)).encode())
        bad.read_http_response()
    good = connect()
    assert good.handshake()[0] == "HTTP/1.1 101 Switching Protocols"
    good.send_frame(0x1, b"still here")
    assert good.read_frame() == (True, 0x1, b"still here")


# --------------------------------------------------------------------------- WebSocket objects

def in_memory(cls, incoming=b"", fail_writes=False, **kwargs):
    writes = []

    def write(data):
        if fail_writes:
            raise BrokenPipeError(32, "Broken pipe")
        writes.append(bytes(data))

    return cls(io.BufferedReader(io.BytesIO(incoming)), write, **kwargs), writes


def test_send_many_makes_one_write():
    ws, writes = in_memory(RFC6455WebSocket)
    ws.send_many(["a", b"b", "c"])
    assert writes == [b"\x81\x01a\x82\x01b\x81\x01c"]


def test_hixie76_send_many_makes_one_write():
    ws, writes = in_memory(Hixie76WebSocket)
    ws.send_many(["a", "b"])
    assert writes == [b"\x00a\xff\x00b\xff"]


def test_hixie76_cannot_send_bytes():
    ws, _ = in_memory(Hixie76WebSocket)
    with pytest.raises(TypeError):
        ws.send(b"binary")


def test_version_attribute_names_the_protocol():
    assert in_memory(Hixie76WebSocket)[0].version == "hixie-76"
    assert in_memory(RFC6455WebSocket, version="8")[0].version == "8"


def test_close_is_idempotent_and_sends_one_close_frame():
    ws, writes = in_memory(RFC6455WebSocket)
    ws.close(1000, "bye")
    ws.close(1000, "bye")
    assert writes == [b"\x88\x05\x03\xe8bye"]
    assert ws.closed


def test_close_never_raises_on_a_dead_connection():
    ws, _ = in_memory(RFC6455WebSocket, fail_writes=True)
    ws.close()
    assert ws.closed


def test_send_on_a_dead_connection_raises_websocket_closed():
    ws, _ = in_memory(RFC6455WebSocket, fail_writes=True)
    with pytest.raises(WebSocketClosed):
        ws.send("x")
    assert ws.closed
    assert issubclass(WebSocketClosed, ConnectionError)


def test_send_after_close_raises_websocket_closed():
    ws, _ = in_memory(RFC6455WebSocket)
    ws.close()
    with pytest.raises(WebSocketClosed):
        ws.send("x")


def test_receive_returns_none_at_end_of_stream():
    ws, _ = in_memory(RFC6455WebSocket, incoming=client_frame(0x1, b"last"))
    assert ws.receive() == "last"
    assert ws.receive() is None
    assert ws.closed


def test_receive_returns_none_after_close_without_reading():
    ws, _ = in_memory(RFC6455WebSocket, incoming=client_frame(0x1, b"unread"))
    ws.close()
    assert ws.receive() is None


def test_a_stream_that_is_not_a_socket_is_read_no_further_than_the_message_returned():
    # TLS: the WebSocket reads wsgi.input itself, asking for exactly what a frame needs, so
    # a receive() never waits for bytes beyond the message it returns.
    incoming = (client_frame(0x1, b"a" * 300) + client_frame(0x2, b"b", fin=False)
                + client_frame(0x9, b"ping") + client_frame(0x0, b"c")
                + client_frame(0x1, b"last"))
    ws, writes = in_memory(RFC6455WebSocket, incoming=incoming)
    consumed = []
    read = ws._stream.read

    def counting_read(n=-1):
        data = read(n)
        consumed.append(len(data))
        return data

    ws._stream.read = counting_read
    assert ws.receive() == "a" * 300
    assert sum(consumed) == len(client_frame(0x1, b"a" * 300))
    assert ws.receive() == b"bc"
    assert writes == [b"\x8a\x04ping"]
    assert ws.receive() == "last"
    assert sum(consumed) == len(incoming)
    assert ws.receive() is None
