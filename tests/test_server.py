"""SocketServer's HTTP handler: what it adds to gevent's pywsgi."""
import base64
import os
import socket

import geventio
from geventio.protocol.rfc6455 import OP_TEXT, encode_frame, parse_frame_header, frame_header_length
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve
from helpers.wire import request


def raw_ws_echo_app(environ, start_response):
    """A wrapped app's own WebSocket endpoint, written against gevent-websocket."""
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"plain"]
    while True:
        message = ws.receive()
        if message is None:
            break
        ws.send(message)
    return []


def _open_ws(base, path):
    host, port = base.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return sock, head


def _read_frame(sock):
    start = sock.recv(2, socket.MSG_WAITALL)
    size = frame_header_length(start)
    rest = sock.recv(size - 2, socket.MSG_WAITALL) if size > 2 else b""
    header = parse_frame_header(start + rest)
    return sock.recv(header.length, socket.MSG_WAITALL)


def test_a_wrapped_apps_own_gevent_websocket_endpoint_keeps_working():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router.route()], fallback=raw_ws_echo_app)) as base:
        sock, head = _open_ws(base, "/live")
        assert head.startswith(b"HTTP/1.1 101")
        sock.sendall(encode_frame(OP_TEXT, "ping".encode(), mask=b"abcd"))
        assert _read_frame(sock) == b"ping"
        sock.close()


def test_socket_io_websocket_paths_are_upgraded_by_geventio_not_by_the_fallback():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router.route()], fallback=raw_ws_echo_app)) as base:
        sock, head = _open_ws(base, "/socket.io/websocket")
        assert head.startswith(b"HTTP/1.1 101")
        sid_frame = _read_frame(sock).decode()
        assert sid_frame.startswith("~m~20~m~")
        sock.close()


def test_a_request_asking_to_close_gets_connection_close_echoed():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router.route()], fallback=raw_ws_echo_app)) as base:
        status, headers, body = request(base, "GET", "/page", headers={"Connection": "close"})
        assert (status, body) == (200, b"plain")
        assert headers["connection"].lower() == "close"


def test_response_headers_and_body_leave_in_one_write(monkeypatch):
    writes = []
    original = geventio.server.Handler._sendall

    def counting(self, data):
        writes.append(bytes(data))
        return original(self, data)
    monkeypatch.setattr(geventio.server.Handler, "_sendall", counting)
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router.route()], fallback=raw_ws_echo_app)) as base:
        request(base, "GET", "/page")
        assert len(writes) == 1
        assert writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b"\r\n\r\nplain")


def _nodelay_app(environ, start_response):
    sock = environ["geventio.socket"]
    value = b"%d" % sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "1")])
    return [value]


def test_every_client_socket_has_tcp_nodelay():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router], fallback=_nodelay_app)) as base:
        for _ in range(3):
            status, _, body = request(base, "GET", "/nodelay")
            assert (status, body) == (200, b"1")


def test_tcp_nodelay_is_set_per_connection_when_the_listener_cannot_pass_it_on(monkeypatch):
    import geventio.server
    monkeypatch.setattr(geventio.server.sys, "platform", "darwin")
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router], fallback=_nodelay_app)) as base:
        status, _, body = request(base, "GET", "/nodelay")
        assert (status, body) == (200, b"1")
