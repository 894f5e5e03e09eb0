"""The WebSocket opening handshake over a WSGI request: RFC 6455 and hixie-76.

:func:`upgrade` checks the request, answers 101 through the WSGI ``start_response`` and
returns the connected :class:`~geventio.wsio.connection.WebSocket` (an
:class:`~geventio.wsio.connection.RFC6455WebSocket` or a
:class:`~geventio.wsio.hixie76.Hixie76WebSocket`).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import quote

import gevent

from ..protocol.hixie76 import hixie76_answer
from ..protocol.permessage_deflate import WebSocketDeflate
from ..protocol.rfc6455 import (
    HandshakeError, header_tokens, rfc6455_accept, validate_rfc6455_request,
)
from .compressed import CompressedWebSocket
from .connection import RFC6455WebSocket, WebSocket
from .hixie76 import Hixie76WebSocket

__all__ = ["upgrade", "environ_headers"]

log = logging.getLogger(__name__)


def environ_headers(environ: Mapping[str, Any]) -> dict:
    """The request headers of a WSGI environ as ``{'sec-websocket-key': value, ...}``."""
    headers = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            headers[name[5:].replace("_", "-").lower()] = value
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if name in environ:
            headers[name.replace("_", "-").lower()] = environ[name]
    return headers


def upgrade(environ: dict, start_response: Callable, *, max_message_size: int = 1_000_000,
            extra_headers: Iterable[Tuple[str, str]] = (), handshake_timeout: float = 10.0,
            close_timeout: float = 5.0, deflate: Optional[WebSocketDeflate] = None) -> WebSocket:
    """Answer a WebSocket opening handshake and return the connected :class:`WebSocket`.

    hixie-76 is chosen when both ``Sec-WebSocket-Key1`` and ``Key2`` are present (its 8-byte
    key3 is read from ``wsgi.input``, waiting at most ``handshake_timeout`` seconds),
    RFC 6455 otherwise. An unacceptable request raises :class:`HandshakeError` before anything
    is written, so the caller can still answer ``exc.status`` with ``exc.headers``.
    ``extra_headers`` are added to the 101 response. Messages longer than
    ``max_message_size`` bytes close the connection (1009). ``close_timeout`` bounds how long
    :meth:`WebSocket.close` waits for the peer's closing handshake. With ``deflate`` (a
    router's permessage-deflate), an RFC 6455 client's first acceptable permessage-deflate
    offer is agreed (``Sec-WebSocket-Extensions`` in the 101) and a
    :class:`~geventio.wsio.compressed.CompressedWebSocket` returned.
    Raises :class:`WebSocketClosed` if the connection breaks while the 101 is being written.
    """
    if environ.get("REQUEST_METHOD") != "GET":
        raise HandshakeError("a WebSocket upgrade must be a GET, not %s"
                             % environ.get("REQUEST_METHOD"))
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    if protocol != "HTTP/1.1":
        raise HandshakeError("a WebSocket upgrade needs HTTP/1.1, not %s" % protocol)
    headers = environ_headers(environ)
    if "websocket" not in header_tokens(headers.get("upgrade")):
        raise HandshakeError("no 'Upgrade: websocket' header (got %r)" % (headers.get("upgrade"),))
    if "upgrade" not in header_tokens(headers.get("connection")):
        raise HandshakeError("no 'Connection: Upgrade' header (got %r)"
                             % (headers.get("connection"),))
    stream = environ.get("wsgi.input")
    if stream is None or environ.get("wsgi.input_terminated"):
        # pywsgi hands over the raw connection only when it sees the upgrade request itself
        # ('Upgrade: websocket' or 'Connection: upgrade' exactly); otherwise wsgi.input is a
        # body reader that stops at the (absent) Content-Length.
        raise HandshakeError("the server did not hand over the raw connection for this upgrade")
    extra = [(str(name), str(value)) for name, value in extra_headers]

    if "sec-websocket-key1" in headers and "sec-websocket-key2" in headers:
        return _upgrade_hixie76(environ, start_response, headers, stream, extra,
                                max_message_size, handshake_timeout, close_timeout)

    key = validate_rfc6455_request(headers)
    version = headers["sec-websocket-version"].strip()
    response_headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", rfc6455_accept(key)),
    ] + extra
    agreed = None
    if deflate is not None:
        agreed = deflate.negotiate(headers.get("sec-websocket-extensions"))
    if agreed is not None:
        response_headers.append(("Sec-WebSocket-Extensions", agreed.header))
    write = start_response("101 Switching Protocols", response_headers)
    ws: RFC6455WebSocket
    if agreed is None:
        ws = RFC6455WebSocket(stream, write, version=version, max_message_size=max_message_size,
                              close_timeout=close_timeout, sock=environ.get("geventio.socket"))
    else:
        ws = CompressedWebSocket(stream, write, deflate=agreed, version=version,
                                 max_message_size=max_message_size, close_timeout=close_timeout,
                                 sock=environ.get("geventio.socket"))
    ws.send_handshake(b"")
    log.debug("WebSocket %s connection open on %s", version, environ.get("PATH_INFO"))
    return ws


def _request_uri(environ: Mapping[str, Any]) -> str:
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if uri:
        return uri
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    uri = quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=-._~") or "/"
    if environ.get("QUERY_STRING"):
        uri += "?" + environ["QUERY_STRING"]
    return uri


def _upgrade_hixie76(environ: dict, start_response: Callable, headers: dict, stream: Any,
                     extra: List[Tuple[str, str]], max_message_size: int,
                     handshake_timeout: float, close_timeout: float) -> Hixie76WebSocket:
    host = headers.get("host")
    if not host:
        raise HandshakeError("a hixie-76 handshake needs a Host header")
    try:
        with gevent.Timeout(handshake_timeout, HandshakeError(
                "timed out after %ss waiting for the 8-byte hixie-76 key3" % handshake_timeout)):
            key3 = stream.read(8)
    except OSError as exc:
        raise HandshakeError("connection failed while reading the hixie-76 key3: %s" % exc) \
            from None
    answer = hixie76_answer(headers["sec-websocket-key1"], headers["sec-websocket-key2"], key3)
    scheme = "wss" if environ.get("wsgi.url_scheme") == "https" else "ws"
    response_headers = [
        ("Upgrade", "WebSocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Origin", headers.get("origin") or "null"),
        ("Sec-WebSocket-Location", "%s://%s%s" % (scheme, host, _request_uri(environ))),
    ]
    if headers.get("sec-websocket-protocol"):
        response_headers.append(("Sec-WebSocket-Protocol", headers["sec-websocket-protocol"]))
    write = start_response("101 WebSocket Protocol Handshake", response_headers + extra)
    ws = Hixie76WebSocket(stream, write, max_message_size=max_message_size,
                          close_timeout=close_timeout, sock=environ.get("geventio.socket"))
    ws.send_handshake(answer)
    log.debug("WebSocket hixie-76 connection open on %s", environ.get("PATH_INFO"))
    return ws
