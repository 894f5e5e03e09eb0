"""Every gevent / pywsgi private name geventio relies on, in one place, checked at import.

geventio reaches below gevent's public API in a few hot spots: one non-blocking send per
response, a long-poll's hang-up watch on the socket's own read watcher, a WebSocket read in
the event loop, one write for a response's head and first chunk, discarding an unread body.
Each private name is listed in :data:`REQUIRED`, checked when this module is imported
(:func:`check`), and used only through the functions below. A gevent release that renames
one fails at import with a message naming what is missing, not deep inside a request.
"""
from __future__ import annotations

import socket as _stdlib_socket
from typing import Any, Callable, Iterable, List, Tuple

import gevent
import gevent.socket
from gevent.pywsgi import Input, WSGIHandler

#: the gevent releases geventio's suite has passed on (setup.py allows this range)
TESTED_GEVENT = ("23.9", "26.9")

#: (owner, private or undocumented name, what geventio uses it for)
REQUIRED: Tuple[Tuple[type, str, str], ...] = (
    (gevent.socket.socket, "_sock",
     "the OS socket under a gevent socket (non-blocking sends and reads)"),
    (gevent.socket.socket, "_read_event",
     "the socket's own read watcher (hang-up watch, waiting for the next request)"),
    (gevent.socket.socket, "_wait", "waiting on the socket's read watcher"),
    (WSGIHandler, "_write_with_headers",
     "the hook that writes a response's head with its first chunk"),
    (WSGIHandler, "_sendall", "pywsgi's write of raw bytes to the client"),
    (Input, "_discard", "discarding the unread rest of a request body"),
    (Input, "content_length", "a request body's declared length (to abandon its rest)"),
    (Input, "position", "how much of a request body was read (to abandon its rest)"),
    (Input, "chunked_input", "whether a request body is chunked (to abandon its rest)"),
)


class GeventCompatError(ImportError):
    """The installed gevent lacks a private name geventio relies on."""


def missing(required: Iterable[Tuple[type, str, str]] = REQUIRED) -> List[str]:
    """The entries of ``required`` that the installed gevent lacks, described."""
    return ["%s.%s (%s)" % (owner.__qualname__, name, why)
            for owner, name, why in required if not hasattr(owner, name)]


def check(required: Iterable[Tuple[type, str, str]] = REQUIRED) -> None:
    """Raise :class:`GeventCompatError` naming every private name that is missing."""
    gone = missing(required)
    if gone:
        raise GeventCompatError(
            "geventio needs gevent internals that gevent %s does not have: %s. geventio was "
            "tested with gevent %s to %s; install one of those, or report this."
            % (gevent.__version__, "; ".join(gone), TESTED_GEVENT[0], TESTED_GEVENT[1]))


check()


def os_socket(sock: Any) -> Any:
    """The OS-level socket under a gevent socket (its calls never wait for gevent), or
    None when ``sock`` is not a plain gevent socket (TLS, a test double)."""
    if type(sock) is not gevent.socket.socket:
        return None
    return sock._sock


def read_watcher(sock: Any) -> Any:
    """A gevent socket's own read watcher, or None (not a gevent socket)."""
    return getattr(sock, "_read_event", None)


def wait_readable(sock: Any) -> bool:
    """Block this greenlet until a plain gevent socket is readable. False (nothing waited)
    when that cannot be done safely: not a plain gevent socket (TLS may hold decrypted
    bytes the descriptor does not show), or its read watcher is in use."""
    if type(sock) is not gevent.socket.socket:
        return False
    watcher = sock._read_event
    if watcher.callback is not None:
        return False
    sock._wait(watcher)
    return True


def discard_input(wsgi_input: Input) -> None:
    """Read and drop what is left of a pywsgi request body (keep-alive needs it gone)."""
    wsgi_input._discard()


def abandon_input(wsgi_input: Input) -> None:
    """Make pywsgi treat a request body as fully read, so it does not read and discard the
    rest before the next request: for a connection that is about to be closed."""
    wsgi_input.content_length = wsgi_input.position
    wsgi_input.chunked_input = False


def peek_closed(sock: Any) -> bool:
    """True if the peer closed ``sock`` (EOF or an error is pending). Never waits. Under
    TLS the OS socket is peeked (raw TLS bytes: only EOF matters here)."""
    raw = getattr(sock, "_sock", None) or sock
    try:
        data = raw.recv(1, _stdlib_socket.MSG_PEEK | _stdlib_socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    return not data


class OneWriteHeadMixin:
    """For a pywsgi handler: send the status line, the headers and the first body chunk in
    one write (pywsgi makes two, which with TCP_NODELAY is two packets per response)."""

    headers_sent: bool
    status: bytes
    response_headers: List[Tuple[bytes, bytes]]
    response_use_chunked: bool
    finalize_headers: Callable[[], None]

    def _write_with_headers(self, data: bytes) -> None:
        self.headers_sent = True
        self.finalize_headers()
        out = bytearray(b"HTTP/1.1 ")
        out += self.status
        out += b"\r\n"
        for header, value in self.response_headers:
            out += header + b": " + value + b"\r\n"
        out += b"\r\n"
        if data:
            if self.response_use_chunked:
                out += b"%x\r\n" % len(data) + data + b"\r\n"
            else:
                out += data
        self._sendall(bytes(out))  # type: ignore[attr-defined]


def socket_under(stream: Any) -> Any:
    """The socket a buffered reader (pywsgi's rfile) reads from, or None."""
    return getattr(getattr(stream, "raw", None), "_sock", None)
