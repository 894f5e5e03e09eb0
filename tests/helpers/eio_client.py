"""Speak Engine.IO to a test server at the byte level: polling requests and a WebSocket
client for Engine.IO's text and binary frames, plus a raw Engine.IO echo to serve.
"""
import json
import time

import geventio
from geventio.engine import EngineSession

from .wire import request
from .wire06 import RFC6455Client

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


class WSClient(RFC6455Client):
    """A browser-like WebSocket (masked frames) reading Engine.IO's text and binary frames."""

    def __init__(self, base, path, timeout=5.0):
        super().__init__(base, path, timeout=timeout)
        if self.status != 101:
            raise WSClosed("HTTP %d instead of 101" % self.status)
        assert self.headers["sec-websocket-accept"] == self.expected_accept

    def send(self, message):
        """A text frame for str, a binary frame for bytes."""
        if isinstance(message, str):
            super().send(message)
        else:
            self.send_binary(bytes(message))

    def receive(self, timeout=5.0):
        """The next message: str (text) or bytes (binary). Raises WSClosed when the server
        closes, TimeoutError when nothing comes."""
        while True:
            try:
                opcode, payload = self.recv_frame(timeout)
            except EOFError:
                raise WSClosed("EOF") from None
            if opcode == 0x1:
                return payload.decode("utf-8")
            if opcode == 0x2:
                return payload
            if opcode == 0x8:
                raise WSClosed(payload)
            if opcode == 0x9:
                self.send_frame(0xA, payload)

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
        except TimeoutError:
            return True
        return False

    def close(self):
        self.send_close(1000)
        super().close()
