"""The lean request path: Engine.IO requests served without pywsgi's request machinery.

An Engine.IO client makes two HTTP requests per message over long-polling, and pywsgi
spends more CPU parsing each one (``email.feedparser`` for the headers, a full environ)
than geventio spends serving it. :class:`geventio.server.Handler` therefore peeks at every
request on a connection: when the whole head is already buffered, parses cleanly
(:func:`geventio.protocol.http1.parse_head`) and asks for a router's path with ``EIO=`` in
the query, :func:`serve` answers it here; anything else goes to pywsgi as before.

Still WSGI by the book: the router gets a complete environ (pywsgi's base environ, the same
keys pywsgi sets, ``wsgi.input`` with pywsgi's ``Input`` so ``Expect: 100-continue`` works,
the raw reader for WebSocket upgrades) and a ``start_response`` with a ``write`` callable.
The response's status line, headers and body leave in one write; a list body without a
Content-Length gets one; a streamed body without one ends the connection.
"""
from __future__ import annotations

import logging
import socket
import sys
import time
from io import BytesIO
from email.utils import formatdate
from typing import Any, Callable, List, Optional, Tuple, Union

from gevent.pywsgi import Input

from . import _gevent_compat as compat
from .protocol.http1 import Head, response_head

log = logging.getLogger(__name__)
access_log = logging.getLogger("geventio.access")

_NO_BODY_CODES = (204, 304)

_date: List[Any] = [0, ""]  # [second, its Date line]: formatted once a second


def _date_line() -> str:
    now = int(time.time())
    if now != _date[0]:
        _date[1] = "Date: %s\r\n" % formatdate(now, usegmt=True)
        _date[0] = now
    return _date[1]


class _Response:
    """One response's state: what start_response was given, and whether it has gone out."""

    __slots__ = ("socket", "keep_alive", "status", "headers", "code", "sent", "length_known",
                 "close", "bytes_out")

    def __init__(self, sock: Any, keep_alive: bool) -> None:
        self.socket = sock  # the name geventio.wsio looks for behind write()
        self.keep_alive = keep_alive
        self.status: Optional[str] = None
        self.headers: List[Tuple[str, str]] = []
        self.code = 0
        self.sent = False
        self.length_known = False
        self.close = False
        self.bytes_out = 0

    def start_response(self, status: str, headers: List[Tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        if not isinstance(status, str):
            raise TypeError("the status must be a native string")
        self.status = status
        self.headers = list(headers)
        self.code = int(status.split(" ", 1)[0])
        known = self.code < 200 or self.code in _NO_BODY_CODES
        if not known:
            for name, _ in self.headers:
                if name == "Content-Length" or name.lower() == "content-length":
                    known = True
                    break
        self.length_known = known
        return self.write

    def _head(self, add_length: Optional[int]) -> bytes:
        if self.status is None:
            raise AssertionError("the application did not call start_response()")
        extra = "" if self.code == 101 else _date_line()
        if add_length is not None and not self.length_known:
            extra += "Content-Length: %d\r\n" % add_length
            self.length_known = True
        if not self.length_known:
            self.close = True  # the end of the connection ends the body
        if not self.keep_alive or self.close:
            if self.code != 101:
                extra += "Connection: close\r\n"
        return response_head(self.status, self.headers, extra)

    def write(self, data: bytes) -> None:
        """WSGI's write callable; the first call sends the head along with ``data``."""
        if self.sent:
            if data:
                self._send(data)
            return
        out = self._head(None)
        self.sent = True
        self._send(out + data if data else out)

    def finish(self, body: bytes) -> None:
        """Send a complete response (head not yet sent) whose body is ``body``."""
        out = self._head(len(body))
        self.sent = True
        self._send(out + body if body else out)

    def _send(self, data: Union[bytes, memoryview]) -> None:
        self.bytes_out += len(data)
        # One non-blocking send on the OS socket first: a response fits the socket buffer
        # almost always, and gevent's sendall() costs a getsockopt() call each time.
        raw = compat.os_socket(self.socket)
        if raw is not None:
            try:
                sent = raw.send(data)
            except BlockingIOError:
                sent = 0
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        self.socket.sendall(data)


#: what :func:`serve` says of the connection afterwards
CLOSE = "close"
KEEP = "keep"                  #: keep it; the reader may hold the next request's bytes
KEEP_DRAINED = "keep-drained"  #: keep it; every byte read so far has been used


def serve(handler: Any, head: Head, application: Callable, buffered: int) -> str:
    """Serve one request whose head is among the ``buffered`` bytes in ``handler.rfile``
    and whose path has no percent-escapes; say whether to keep the connection
    (:data:`CLOSE`, :data:`KEEP`, :data:`KEEP_DRAINED`)."""
    started = time.time()
    sock = handler.socket
    rfile = handler.rfile
    rfile.read(head.size)
    environ = handler.server.get_environ()
    environ.update(head.environ)
    environ["REQUEST_METHOD"] = head.method
    environ["SCRIPT_NAME"] = ""
    environ["PATH_INFO"] = head.path  # no percent-escapes: the caller sends those to pywsgi
    environ["QUERY_STRING"] = head.query
    environ["SERVER_PROTOCOL"] = head.version
    address = handler.client_address
    if isinstance(address, tuple):
        environ["REMOTE_ADDR"] = str(address[0])
        environ["REMOTE_PORT"] = str(address[1])
    environ["geventio.socket"] = sock
    response = _Response(sock, head.keep_alive)
    wsgi_input: Optional[Input] = None
    body_used = 0
    if head.upgrade:
        environ["wsgi.input"] = rfile
        environ["wsgi.input_terminated"] = False
    else:
        length_text = environ.get("CONTENT_LENGTH")
        length = int(length_text) if length_text else 0
        limit = getattr(getattr(application, "settings", None), "max_http_buffer_size", None)
        if limit is not None and length > limit:
            # The router refuses it (413) without reading it; reading it just to keep the
            # connection would let a client make us swallow any number of bytes.
            response.keep_alive = False
        if length and response.keep_alive and buffered - head.size >= length:
            # The whole body came with the head (the usual case): hand it over as it is.
            environ["wsgi.input"] = BytesIO(rfile.read(length))
            body_used = length
        else:
            expect = sock if "HTTP_EXPECT" in environ else None
            wsgi_input = Input(rfile, length if length_text else None, socket=expect)
            environ["wsgi.input"] = wsgi_input
        environ["wsgi.input_terminated"] = True
    handler.environ = environ
    keep = True
    try:
        result = application(environ, response.start_response)
        try:
            if type(result) is list and not response.sent:
                response.finish(b"".join(result))
            else:
                for chunk in result:
                    if chunk:
                        response.write(chunk)
                if not response.sent:
                    response.write(b"")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if wsgi_input is not None and response.keep_alive:
            compat.discard_input(wsgi_input)
    except socket.error:
        keep = False  # the client went away; nothing to answer
    except Exception:
        keep = False
        log.exception("error serving %s %s", head.method, environ.get("PATH_INFO"))
        if not response.sent:
            try:
                response.keep_alive = False
                response.start_response("500 Internal Server Error",
                                        [("Content-Type", "text/plain; charset=UTF-8")],
                                        sys.exc_info())
                response.finish(b"Internal Server Error")
            except Exception:
                pass
    if access_log.isEnabledFor(logging.DEBUG):
        access_log.debug('%s - - [%s] "%s %s%s %s" %s %s %.6f', environ.get("REMOTE_ADDR", "-"),
                         time.strftime("%d/%b/%Y %H:%M:%S"), head.method, head.path,
                         "?" + head.query if head.query else "", head.version,
                         response.code or "-", response.bytes_out, time.time() - started)
    if not keep or not response.keep_alive or response.close or response.code == 101:
        return CLOSE
    used = head.size + (wsgi_input.position if wsgi_input is not None else body_used)
    return KEEP_DRAINED if used == buffered else KEEP


__all__ = ["CLOSE", "KEEP", "KEEP_DRAINED", "serve"]
