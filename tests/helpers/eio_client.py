"""Speak Engine.IO to a test server at the byte level: polling requests and a tiny
masked-frame WebSocket client, plus a raw Engine.IO echo to serve.
"""
import base64
import json
import os
import socket
import time
from urllib.parse import urlsplit

import geventio
from geventio.engine import EngineSession
from geventio.protocol import websocket as wsp

from .wire import request

RS = "\x1e"


class EchoEngineSession(EngineSession):
    """Engine.IO with nothing on top: each MESSAGE goes straight back."""

    def on_engine_message(self, data):
        self.push([data if isinstance(data, bytes) else "4" + data])


class _Unused(geventio.SocketConnection):
    pass


class EchoEngineRouter(geventio.Router):
    engine_session_class = EchoEngineSession


def echo_engine_router(resource="engine.io", **settings):
    """A router serving the raw Engine.IO echo at ``/<resource>/``."""
    return EchoEngineRouter(_Unused, settings=settings, resource=resource)


# --------------------------------------------------------------------------- polling

def url(resource, eio=4, transport="polling", sid=None, **extra):
    query = "EIO=%s&transport=%s" % (eio, transport)
    if sid:
        query += "&sid=" + sid
    for name, value in extra.items():
        query += "&%s=%s" % (name, value)
    return "/%s/?%s" % (resource, query)


def get(base, resource, sid, eio=4, timeout=10, **extra):
    """A polling GET: (status, headers, body bytes)."""
    return request(base, "GET", url(resource, eio, sid=sid, **extra), timeout=timeout)


def post(base, resource, sid, body, eio=4, content_type="text/plain;charset=UTF-8",
         timeout=10, **extra):
    """A polling POST of a raw payload (str is sent as UTF-8): (status, headers, body)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return request(base, "POST", url(resource, eio, sid=sid, **extra), body=body,
                   headers={"Content-Type": content_type}, timeout=timeout)


def open_packet(body, eio=4):
    """The OPEN packet's JSON from a handshake response body (v3: one ``len:`` packet)."""
    text = body.decode("utf-8")
    if eio == 3:
        length, _, text = text.partition(":")
        assert int(length) == len(text), body
    assert text.startswith("0"), body
    return json.loads(text[1:])


def handshake(base, resource, eio=4, **extra):
    """Open a polling session: (sid, handshake dict)."""
    status, _, body = request(base, "GET", url(resource, eio, **extra))
    assert status == 200, (status, body)
    data = open_packet(body, eio)
    return data["sid"], data


def error(code, message):
    """Node's JSON error body as bytes."""
    return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()


def wait_until(predicate, timeout=2.0, interval=0.005):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %s s" % timeout)
        time.sleep(interval)


# --------------------------------------------------------------------------- WebSocket

class WSClosed(Exception):
    """The server closed the WebSocket (close frame or EOF)."""


class WSClient:
    """A minimal RFC 6455 client: masked frames out, one message per frame in."""

    def __init__(self, base, path, timeout=5.0):
        parts = urlsplit(base)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (path, parts.netloc, key)).encode())
        head = self._read_until(b"\r\n\r\n")
        self.status_line = head.split(b"\r\n", 1)[0]
        self.response_head = head
        if b" 101 " not in self.status_line:
            raise WSClosed(head + self.buffer)
        assert wsp.rfc6455_accept(key).encode() in head

    def _read_until(self, marker):
        while marker not in self.buffer:
            self._fill()
        i = self.buffer.index(marker) + len(marker)
        out, self.buffer = self.buffer[:i], self.buffer[i:]
        return out

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise WSClosed("EOF")
        self.buffer += chunk

    def _read(self, n):
        while len(self.buffer) < n:
            self._fill()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send(self, message):
        """A text frame for str, a binary frame for bytes."""
        if isinstance(message, str):
            frame = wsp.encode_frame(wsp.OP_TEXT, message.encode("utf-8"), mask=os.urandom(4))
        else:
            frame = wsp.encode_frame(wsp.OP_BINARY, bytes(message), mask=os.urandom(4))
        self.sock.sendall(frame)

    def receive(self, timeout=5.0):
        """The next message: str (text) or bytes (binary). Raises WSClosed on close/EOF,
        socket.timeout when nothing comes."""
        self.sock.settimeout(timeout)
        while True:
            first = self._read(2)
            header = wsp.parse_frame_header(first + self._read(wsp.frame_header_length(first) - 2))
            payload = self._read(header.length)
            if header.opcode == wsp.OP_CLOSE:
                self.close_code = wsp.parse_close_payload(payload)[0]
                raise WSClosed(self.close_code)
            if header.opcode == wsp.OP_TEXT:
                return payload.decode("utf-8")
            if header.opcode == wsp.OP_BINARY:
                return payload
            # ping/pong frames: not used by geventio; skip

    def expect_closed(self, timeout=5.0):
        """Read until the server closes; return the messages received before that."""
        messages = []
        try:
            while True:
                messages.append(self.receive(timeout))
        except WSClosed:
            return messages

    def nothing_within(self, seconds):
        """True if no message arrives within ``seconds``."""
        try:
            self.receive(seconds)
        except socket.timeout:
            return True
        return False

    def close(self):
        try:
            self.sock.sendall(wsp.encode_frame(wsp.OP_CLOSE, wsp.encode_close_payload(1000),
                                               mask=os.urandom(4)))
        except OSError:
            pass
        self.sock.close()
