"""WebSockets over WSGI on gevent's pywsgi: the handshake, the connection, the readers.

:func:`upgrade` turns a WSGI request into a :class:`WebSocket` speaking RFC 6455
(``Sec-WebSocket-Version`` 13, 8 or 7) or hixie-76 (``Sec-WebSocket-Key1/2``, the Flash
SWF of the socket.io 0.6 client and Safari <= 5). The calling WSGI application must keep its
greenlet inside the request until :meth:`WebSocket.receive` has returned None, then return
an empty iterable::

    def app(environ, start_response):
        try:
            ws = upgrade(environ, start_response)
        except HandshakeError as exc:
            start_response(exc.status, [("Content-Type", "text/plain")] + exc.headers)
            return [str(exc).encode()]
        while (message := ws.receive()) is not None:
            ws.send(message)
        return []

How the connection ends: once the WebSocket is finished it closes ``environ['wsgi.input']``
(so pywsgi does not try to read another HTTP request from the same connection) and shuts
the TCP connection down; pywsgi closes the socket when the application returns.

Alternatively (RFC 6455 over plain TCP), :meth:`WebSocket.read_in_loop` reads the
connection in the event loop with no greenlet: the WebSocket then takes the socket over
from the server (``environ['geventio.socket']`` is detached; the application returns at
once and the server closes only its empty socket object) and closes it itself, once, when
the connection ends.

The modules, each with one job: :mod:`~geventio.wsio.handshake` (the opening handshake of
both protocols), :mod:`~geventio.wsio.connection` (the WebSocket: blocking reads, writes,
the closing handshake), :mod:`~geventio.wsio.loop_reader` (reading in the event loop),
:mod:`~geventio.wsio.compressed` (RFC 6455 with permessage-deflate agreed),
:mod:`~geventio.wsio.hixie76` (the hixie-76 WebSocket), :mod:`~geventio.wsio.scratch` (the
shared receive buffer). The wire formats themselves are sans-I/O, in
:mod:`geventio.protocol.rfc6455`, :mod:`geventio.protocol.permessage_deflate` and
:mod:`geventio.protocol.hixie76`.
"""
from __future__ import annotations

from ..protocol.rfc6455 import HandshakeError
from .compressed import CompressedWebSocket
from .connection import RFC6455WebSocket, WebSocket, WebSocketClosed
from .handshake import environ_headers, upgrade
from .hixie76 import Hixie76WebSocket

__all__ = ["upgrade", "WebSocket", "RFC6455WebSocket", "Hixie76WebSocket", "HandshakeError",
           "WebSocketClosed", "environ_headers", "CompressedWebSocket"]
