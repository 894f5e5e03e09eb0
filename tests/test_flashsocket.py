"""The 0.6 flashsocket transport and the Flash socket policy.

flashsocket.js is websocket.js run through the Flash bridge (web-socket-js): before it opens
``ws://host:port/socket.io/flashsocket`` with a hixie-76 handshake, Flash fetches a
cross-domain policy by sending ``<policy-file-request/>\\0`` (to port 843, and node's
server also answers it inline on its HTTP port). transcripts-0.6/flashsocket.txt shows both.

Unlike the reference server, geventio ends the policy with a NUL (as Adobe's spec and
TornadIO do) and also accepts RFC 6455 on this path.
"""
import contextlib
import socket

import pytest

import geventio
import test_websocket_06
from helpers.apps import Recorder
from helpers.server import make_application
from helpers.wire import request
from helpers.wire06 import FLASH_ANSWER, Hixie76Client, decode

POLICY_REQUEST = b"<policy-file-request/>\x00"
# The reference server's policy (flashsocket.txt), which geventio ends with a NUL.
POLICY = (b'<?xml version="1.0"?>\n'
          b'<!DOCTYPE cross-domain-policy SYSTEM '
          b'"http://www.macromedia.com/xml/dtds/cross-domain-policy.dtd">\n'
          b'<cross-domain-policy>\n'
          b'<allow-access-from domain="*" to-ports="*"/>\n'
          b'</cross-domain-policy>\n')


class TestFlashSocket(test_websocket_06.WebSocket06Behaviour):
    transport = "flashsocket"


@contextlib.contextmanager
def socket_server(enabled=None, flash_policy_port=0):
    """A SocketServer with its Flash policy server on an ephemeral port."""
    handler = type("Echo", (test_websocket_06.Echo,), {"recorder": Recorder()})
    settings = dict(test_websocket_06.FAST)
    if enabled is not None:
        settings["enabled_protocols"] = enabled
    router = geventio.get_router(handler, settings)
    app = make_application([router.route()], flash_policy_port=flash_policy_port)
    server = geventio.SocketServer(app, auto_start=False)
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=2)


def base_url(server):
    return "http://127.0.0.1:%d" % server.address[1]


def ask_for_policy(address, timeout=5):
    """What Flash does: send the 23-byte request, read until the server closes (or, for
    a server that never answers, until ``timeout``)."""
    sock = socket.create_connection(address[:2], timeout=timeout)
    data = b""
    try:
        sock.sendall(POLICY_REQUEST)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
    except socket.timeout:
        return data
    finally:
        sock.close()


@pytest.fixture
def server():
    with socket_server() as server:
        yield server


def test_the_flash_bridge_handshake_of_the_transcript_is_answered_byte_for_byte(server):
    ws = Hixie76Client(base_url(server), "/socket.io/flashsocket", host="127.0.0.1:18073")
    try:
        assert ws.status_line == "HTTP/1.1 101 WebSocket Protocol Handshake"
        assert [h for h in ws.header_list if h[0] != "Date"] == [
            ("Upgrade", "WebSocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Origin", "http://127.0.0.1:9999"),
            ("Sec-WebSocket-Location", "ws://127.0.0.1:18073/socket.io/flashsocket"),
        ]
        assert ws.answer == FLASH_ANSWER
        first = ws.reader.read(len("\x00~m~20~m~") + 20 + 1, 5)
        assert first[:9] == b"\x00~m~20~m~" and first[-1:] == b"\xff"
        ws.send("~m~5~m~hello")
        assert ws.reader.read(14, 5) == b"\x00~m~5~m~hello\xff"
        ws.send_raw(b"\xff\x00")
        assert ws.reader.read(2, 5) == b"\xff\x00"
        assert ws.closed_by_server()
    finally:
        ws.close()


def test_a_flashsocket_naming_an_unknown_session_gets_404(server):
    ws = Hixie76Client(base_url(server), "/socket.io/flashsocket/0000000bogus")
    try:
        assert ws.status == 404
    finally:
        ws.close()


def test_the_policy_port_answers_a_policy_request_with_the_policy_and_a_nul(server):
    assert server.policy_address is not None
    assert server.policy_address[1] != server.address[1]
    assert ask_for_policy(server.policy_address) == POLICY + b"\x00"


def test_the_http_port_answers_a_policy_request_inline(server):
    assert ask_for_policy(server.address) == POLICY + b"\x00"


def test_the_http_port_still_serves_http_and_websockets(server):
    base = base_url(server)
    status, _, body = request(base, "GET", "/socket.io/xhr-polling//1305500000000")
    assert status == 200 and body.startswith(b"~m~20~m~")
    ws = Hixie76Client(base, "/socket.io/flashsocket")
    try:
        assert ws.status == 101
        assert decode(ws.recv())[0] != ""
    finally:
        ws.close()
    assert ask_for_policy(server.address) == POLICY + b"\x00"


def test_no_policy_is_served_when_flashsocket_is_disabled():
    with socket_server(enabled=["websocket", "xhr-polling"]) as server:
        assert server.policy_address is None
        assert b"cross-domain-policy" not in ask_for_policy(server.address, timeout=0.5)
