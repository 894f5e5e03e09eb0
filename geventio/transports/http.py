"""HTTP plumbing shared by the transports: one request's context, bodies, responses.

Everything here is WSGI by the book: native-str headers, no hop-by-hop headers, bodies as
bytes, streaming by returning an iterable.
"""
from __future__ import annotations

import errno
import logging
import zlib
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs

from .. import _gevent_compat as compat
from .. import cors

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

log = logging.getLogger(__name__)

Header = Tuple[str, str]

NO_CACHE: List[Header] = [("Cache-Control", "no-store, no-cache, must-revalidate")]


#: zlib level for compressed polling answers: node's and zlib's default, a moderate one.
COMPRESS_LEVEL = 6
VARY: Header = ("Vary", "Accept-Encoding")


def accepted_encoding(accept: str) -> Optional[str]:
    """'gzip', 'deflate' or None: what an Accept-Encoding value allows (gzip first, then
    deflate; ``q=0`` refuses, ``*`` stands for any coding not named)."""
    q = {}
    for part in accept.split(","):
        name, _, params = part.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        q[name] = weight
    for coding in ("gzip", "deflate"):
        weight = q.get(coding, q.get("*", 0.0))
        if weight > 0:
            return coding
    return None


def compress(coding: str, body: bytes) -> bytes:
    """``body`` gzip-encoded or deflate-encoded (zlib format, as HTTP's 'deflate' means)."""
    wbits = 31 if coding == "gzip" else 15
    c = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, wbits)
    return c.compress(body) + c.flush()


class HTTPError(Exception):
    """Answer the request with ``status`` and a short plain-text ``message``."""

    def __init__(self, status: str, message: str, headers: Sequence[Header] = ()) -> None:
        super().__init__("%s: %s" % (status, message))
        self.status = status
        self.message = message
        self.headers = list(headers)


class EIOError(Exception):
    """Answer an Engine.IO request with node's JSON error body for Engine.IO error ``code``."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code
        self.why = why


class Exchange:
    """One HTTP request as a transport sees it."""

    __slots__ = ("context", "environ", "start_response", "transport", "sid", "tail", "extra")

    def __init__(self, context: "Context", environ: dict, start_response: Callable,
                 transport: str, sid: str = "", tail: Optional[List[str]] = None,
                 extra: Optional[str] = None) -> None:
        self.context = context
        self.environ = environ
        self.start_response = start_response
        self.transport = transport
        self.sid = sid
        self.tail = tail if tail is not None else []
        self.extra = extra

    @property
    def method(self) -> str:
        return self.environ.get("REQUEST_METHOD", "GET")

    def cors(self) -> List[Header]:
        return cors.cors_headers(self.environ, self.context.settings.cors_allowed_origins)

    def encode(self, body: bytes) -> Tuple[bytes, List[Header]]:
        """A polling answer's body as sent, and the headers that go with it: compressed
        when the ``http_compression`` setting is on, ``body`` reaches
        ``compression_threshold`` and the client accepts gzip or deflate."""
        settings = self.context.settings
        if len(body) < settings.compression_threshold or not settings.http_compression:
            return body, []
        coding = accepted_encoding(self.environ.get("HTTP_ACCEPT_ENCODING", ""))
        if coding is None:
            return body, [VARY]
        return compress(coding, body), [("Content-Encoding", coding), VARY]

    def respond(self, status: str, body: bytes, content_type: str,
                headers: Sequence[Header] = ()) -> List[bytes]:
        """A complete response with Content-Length."""
        all_headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        all_headers.extend(NO_CACHE)
        all_headers.extend(self.cors())
        all_headers.extend(headers)
        self.start_response(status, all_headers)
        return [body]

    def error(self, status: str, message: str, headers: Sequence[Header] = ()) -> List[bytes]:
        """A plain-text error response, logged."""
        log.info("%s %s -> %s (%s)", self.method, self.environ.get("PATH_INFO"), status, message)
        return self.respond(status, message.encode("utf-8"), "text/plain; charset=UTF-8", headers)

    def _read(self, stream: Any, size: int) -> bytes:
        """``stream.read(size)``; a client that leaves before the end of the body is one
        INFO line and a ConnectionResetError (which the server ends quietly)."""
        try:
            return stream.read(size)
        except OSError as exc:
            # pywsgi raises a plain OSError at an early end of file; its subclasses for
            # malformed chunks must reach pywsgi, which answers them 400.
            if type(exc) is not OSError and not isinstance(exc, (ConnectionError,
                                                                   TimeoutError)):
                raise
            log.info("%s from %s: the client left during the request body (%s)", self.method,
                     self.environ.get("REMOTE_ADDR", "?"), exc)
            raise ConnectionResetError(errno.ECONNRESET,
                                       "the client left during the request body") from None

    def read_body(self) -> bytes:
        """The request body, refused with 413 past ``max_http_buffer_size``."""
        limit = self.context.settings.max_http_buffer_size
        length_header = self.environ.get("CONTENT_LENGTH") or ""
        stream = self.environ["wsgi.input"]
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                raise HTTPError("400 Bad Request", "bad Content-Length") from None
            if length < 0:
                raise HTTPError("400 Bad Request", "bad Content-Length")
            if length > limit:
                raise HTTPError("413 Payload Too Large",
                                "body of %d bytes exceeds the %d byte limit" % (length, limit))
            return self._read(stream, length)
        # chunked (or unknown length): read at most one byte more than allowed
        body = self._read(stream, limit + 1)
        if len(body) > limit:
            raise HTTPError("413 Payload Too Large", "body exceeds the %d byte limit" % limit)
        return body


def form_field(body: bytes, content_type: str, name: str = "data") -> str:
    """The value of form field ``name`` in an urlencoded body, as text.

    IE's XDomainRequest cannot set Content-Type, so a body without one that starts with
    ``name=`` is read the same way.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPError("400 Bad Request", "request body is not UTF-8") from None
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype and ctype not in ("application/x-www-form-urlencoded", "text/plain"):
        raise HTTPError("415 Unsupported Media Type", "expected a form-encoded body")
    try:
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False,
                          max_num_fields=64, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise HTTPError("400 Bad Request", "malformed form body") from None
    values = fields.get(name)
    if not values:
        raise HTTPError("400 Bad Request", "form field %r missing" % name)
    return values[0]



class _Watch:
    """Calls ``on_disconnect`` if the client closes its connection while we wait.

    Uses the gevent socket's own read watcher when it has one (nobody else reads the
    socket while its request waits), else a new one."""

    __slots__ = ("_io", "_sock", "_callback", "_owned", "_cancelled")

    def __init__(self, sock, callback: Callable[[], None]) -> None:
        self._sock = sock
        self._callback = callback
        self._cancelled = False
        io = compat.read_watcher(sock)
        self._owned = io is None or io.callback is not None
        if self._owned:
            import gevent
            io = gevent.get_hub().loop.io(sock.fileno(), 1)
        self._io = io
        io.start(self._readable)

    def _readable(self) -> None:
        # Runs in the hub: stop watching and look at the socket from a greenlet.
        import gevent
        self._stop_io()
        gevent.spawn(self._check)

    def _check(self) -> None:
        if self._cancelled:
            return  # the request ended meanwhile: what is readable is not ours to judge
        # Never waits: the socket's watcher may be someone else's by now.
        closed = compat.peek_closed(self._sock)
        if closed and not self._cancelled:
            log.debug("client closed its connection while a request waited")
            self._callback()

    def stop(self) -> None:
        self._cancelled = True
        self._stop_io()

    def _stop_io(self) -> None:
        io = self._io
        if io is not None:
            self._io = None
            io.stop()
            if self._owned:
                io.close()


class _NoWatch:
    __slots__ = ()

    def stop(self) -> None:
        pass


def watch_disconnect(environ: dict, on_disconnect: Callable[[], None]):
    """Watch the request's socket (set by geventio's server as ``geventio.socket``) for
    the client hanging up; ``.stop()`` the result before writing the response."""
    sock = environ.get("geventio.socket")
    if sock is None:
        return _NoWatch()
    try:
        return _Watch(sock, on_disconnect)
    except (OSError, ValueError):
        return _NoWatch()
