"""WebSocket over WSGI on gevent's pywsgi: the upgrade handshake and a blocking WebSocket.

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
"""
from __future__ import annotations

import collections
import logging
import os
import socket
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import gevent
import gevent.socket
from gevent.lock import Semaphore

from . import _gevent_compat as compat

from geventio.protocol.websocket import (
    CLOSE_INVALID_DATA, CLOSE_NORMAL, CLOSE_TOO_BIG, HIXIE76_CLOSE,
    OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, FrameError,
    HandshakeError, Hixie76Decoder, encode_close_payload, encode_frame, frame_header_length,
    header_tokens, hixie76_answer, hixie76_frame, parse_close_payload, parse_frame_header,
    rfc6455_accept, apply_mask, utf8_incremental_decoder, validate_rfc6455_request,
)

__all__ = ["upgrade", "WebSocket", "RFC6455WebSocket", "Hixie76WebSocket", "HandshakeError",
           "WebSocketClosed", "environ_headers"]

log = logging.getLogger(__name__)

Message = Union[str, bytes]
WriteCallable = Callable[[bytes], Any]

_READ_CHUNK = 65536

#: RFC 6455 reads land here first (one buffer for the process, see WebSocket._read_more)
_SCRATCH_SIZE = 16384
_SCRATCH = bytearray(_SCRATCH_SIZE)
_SCRATCH_VIEW = memoryview(_SCRATCH)


def _plain_socket(write: Any) -> Any:
    """The gevent socket behind pywsgi's write callable when it is a plain TCP socket (not
    TLS): non-blocking writes go straight to it. None otherwise."""
    sock = getattr(getattr(write, "__self__", None), "socket", None)
    return sock if type(sock) is gevent.socket.socket else None


class WebSocketClosed(ConnectionError):
    """The WebSocket is closed (or its connection broke): nothing more can be sent."""


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
            close_timeout: float = 5.0) -> "WebSocket":
    """Answer a WebSocket opening handshake and return the connected :class:`WebSocket`.

    hixie-76 is chosen when both ``Sec-WebSocket-Key1`` and ``Key2`` are present (its 8-byte
    key3 is read from ``wsgi.input``, waiting at most ``handshake_timeout`` seconds),
    RFC 6455 otherwise. An unacceptable request raises :class:`HandshakeError` before anything
    is written, so the caller can still answer ``exc.status`` with ``exc.headers``.
    ``extra_headers`` are added to the 101 response. Messages longer than
    ``max_message_size`` bytes close the connection (1009). ``close_timeout`` bounds how long
    :meth:`WebSocket.close` waits for the peer's closing handshake.
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
    write = start_response("101 Switching Protocols", response_headers)
    ws = RFC6455WebSocket(stream, write, version=version, max_message_size=max_message_size,
                          close_timeout=close_timeout, sock=environ.get("geventio.socket"))
    ws._send_handshake(b"")
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
                     handshake_timeout: float, close_timeout: float) -> "Hixie76WebSocket":
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
    ws._send_handshake(answer)
    log.debug("WebSocket hixie-76 connection open on %s", environ.get("PATH_INFO"))
    return ws


class WebSocket:
    """A connected WebSocket: blocking :meth:`receive`, :meth:`send`, :meth:`close`.

    ``stream`` is the connection's buffered reader (``environ['wsgi.input']`` after the
    upgrade) and ``write`` the WSGI write callable returned by ``start_response``. One
    greenlet at a time may call :meth:`receive`; any number may send (writes are serialized).
    """

    # No instance dict: one of these lives as long as its connection.
    __slots__ = ("version", "closed", "close_code", "close_reason", "max_message_size",
                 "close_timeout", "_stream", "_write", "_sock", "_write_lock", "_write_failed",
                 "_close_sent", "_reading", "_finished", "_stream_released", "_close_timer",
                 "_rsock", "_rbuf", "_rpos", "_loop", "__weakref__")

    def __init__(self, stream: Any, write: WriteCallable, *, max_message_size: int = 1_000_000,
                 close_timeout: float = 5.0, sock: Any = None) -> None:
        #: 'hixie-76', or the RFC 6455 ``Sec-WebSocket-Version`` ('13', '8', '7').
        self.version = ""
        #: True once nothing more can be sent: after close(), the peer's close, or an error.
        self.closed = False
        #: The peer's close code (RFC 6455) and reason, when it sent one.
        self.close_code: Optional[int] = None
        self.close_reason = ""
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self._stream = stream
        self._write = write
        # The plain TCP socket (not TLS) behind ``write``, for non-blocking writes (and
        # reading without a greenlet); None when there is none.
        self._sock = sock if type(sock) is gevent.socket.socket else _plain_socket(write)
        self._write_lock = Semaphore()
        self._write_failed = False
        self._close_sent = False
        self._reading = False
        self._finished = False  # nothing more will be read
        self._stream_released = False
        self._close_timer: Optional[gevent.Greenlet] = None
        # Reading straight from the socket (see _switch_to_socket): the socket, and the
        # bytes received but not parsed yet (usually none), from _rpos on.
        self._rsock: Any = None
        self._rbuf = b""
        self._rpos = 0
        self._loop: Optional[_LoopReading] = None  # see read_in_loop

    # -- public API ---------------------------------------------------------------------------

    def receive(self) -> Optional[Message]:
        """Block until the next whole message (str for text, bytes for binary).

        Returns None once the connection is over: the peer closed it, it broke, or the peer
        broke the protocol (the right close frame has then been sent). An exception raised
        into a blocked receive (a ``gevent.Timeout``, ``GreenletExit``) also ends the
        connection, since the stream may be left mid-frame.
        """
        if self._finished:
            return None
        if self._reading:
            raise RuntimeError("receive() is already running in another greenlet")
        if self._loop is not None:
            raise RuntimeError("this WebSocket is read in the event loop (read_in_loop)")
        self._reading = True
        try:
            return self._receive()
        except BaseException:
            self._terminate()
            raise
        finally:
            self._reading = False
            if self._finished:
                self._release_stream()

    def send(self, message: Message) -> None:
        """Send one message: str as a text frame, bytes as a binary frame.

        Raises :class:`WebSocketClosed` when the WebSocket is closed or the connection broke.
        """
        if self.closed:
            raise WebSocketClosed("the WebSocket is closed")
        self._send_raw(self._encode(message), message=True)

    def send_many(self, messages: Sequence[Message]) -> None:
        """Send several messages with one socket write."""
        if self.closed:
            raise WebSocketClosed("the WebSocket is closed")
        data = b"".join(self._encode(message) for message in messages)
        if data:
            self._send_raw(data, message=True)

    def send_many_nowait(self, messages: Sequence[Message]) -> Tuple[Optional[bytes], bool]:
        """Send several messages with one non-blocking socket write, if possible.

        Returns ``(None, False)`` when everything was written. Otherwise returns
        ``(rest, locked)``: the encoded bytes still to be written, which the caller must
        hand to :meth:`finish_send` (from a greenlet that may block) before sending anything
        else. When ``locked`` is True part of a frame went out and the write lock stays held
        until :meth:`finish_send`, so that no other frame is interleaved.
        Raises :class:`WebSocketClosed` like :meth:`send`.
        """
        if self.closed:
            raise WebSocketClosed("the WebSocket is closed")
        data = b"".join([self._encode(message) for message in messages])
        if not data:
            return None, False
        return self._send_nowait(data)

    def _send_nowait(self, data: bytes) -> Tuple[Optional[bytes], bool]:
        sock = self._sock
        if sock is None or not self._write_lock.acquire(blocking=False):
            return data, False
        try:
            if self._write_failed:
                raise WebSocketClosed("the WebSocket connection is broken")
            try:
                sent = sock.send(data, 0, 0.0)
            except BlockingIOError:
                sent = 0
        except WebSocketClosed:
            self._write_lock.release()
            raise
        except Exception as exc:
            self._write_failed = True
            self._write_lock.release()
            log.debug("WebSocket write failed: %s", exc)
            self._terminate()
            raise WebSocketClosed("the WebSocket connection broke: %s" % exc) from exc
        if sent >= len(data):
            self._write_lock.release()
            return None, False
        if sent == 0:
            self._write_lock.release()
            return data, False
        return data[sent:], True

    def finish_send(self, rest: bytes, locked: bool) -> None:
        """Write what :meth:`send_many_nowait` left, blocking (see there)."""
        self._send_raw(rest, message=not locked, locked=locked)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake (idempotent, never raises).

        Sends the close frame if the connection still works. If a greenlet is blocked in
        :meth:`receive`, it returns None when the peer answers, or after ``close_timeout``
        seconds; otherwise the connection is shut down at once.
        """
        if self.closed:
            return
        self.closed = True
        sent = False
        if not self._close_sent and not self._write_failed:
            self._close_sent = True
            try:
                self._send_raw(self._close_frame(code, reason), timeout=self.close_timeout)
                sent = True
            except Exception as exc:  # the connection is gone or stuck; closing must not fail
                log.debug("WebSocket close frame not sent: %s", exc)
        if self._finished:
            return
        if sent and (self._reading or self._loop is not None):
            self._close_timer = gevent.spawn_later(self.close_timeout, self._close_timed_out)
        else:
            self._terminate()

    def abort(self) -> None:
        """Drop the connection now, without a closing handshake (idempotent, never blocks,
        safe in the event loop): the TCP connection is shut down, so a greenlet blocked
        writing to a client that does not read gets an error and ends."""
        self._terminate()

    def read_in_loop(self, on_message: Callable[[Message], Any],
                     on_end: Callable[[], Any]) -> bool:
        """Read without a greenlet, if this WebSocket can: False if not (then use
        :meth:`receive`). Only RFC 6455 over a plain TCP socket (not TLS) can.

        The connection's socket is taken over from the server (detached: the server only
        closes its now empty socket object, and its request greenlet may end); a libev io
        watcher reads it. ``on_message(message)`` is called in the event loop (the hub) for
        each whole message, in order: it must not block; it may call :meth:`pause_reading`
        (nothing more is read or delivered until :meth:`resume_reading`). Pings are
        answered, a protocol error or the peer's close gets the right close frame, and when
        the connection is over (the peer closed or went away, the protocol broke, or our
        :meth:`close` completed) the socket is closed, once, and ``on_end()`` is called
        once, in a new greenlet of its own (it may block).
        """
        return False

    def pause_reading(self) -> None:
        """Stop reading and delivering messages (see :meth:`read_in_loop`)."""

    def resume_reading(self) -> None:
        """Deliver what was read meanwhile and read on (see :meth:`read_in_loop`)."""

    # -- for subclasses -----------------------------------------------------------------------

    def _receive(self) -> Optional[Message]:
        raise NotImplementedError

    def _encode(self, message: Message) -> bytes:
        raise NotImplementedError

    def _close_frame(self, code: int, reason: str) -> bytes:
        raise NotImplementedError

    # -- internals ----------------------------------------------------------------------------

    def _send_handshake(self, data: bytes) -> None:
        try:
            self._write(data)
        except Exception as exc:
            self._write_failed = True
            self._terminate()
            raise WebSocketClosed("the connection broke during the handshake: %s" % exc) \
                from exc

    def _send_raw(self, data: bytes, timeout: Optional[float] = None,
                  message: bool = False, locked: bool = False) -> None:
        if not locked and not self._write_lock.acquire(timeout=timeout):
            raise WebSocketClosed("another write has been blocked for %ss" % timeout)
        try:
            if self._write_failed:
                raise WebSocketClosed("the WebSocket connection is broken")
            if message and self.closed:  # close() won the race for the lock
                raise WebSocketClosed("the WebSocket is closed")
            try:
                self._write(data)
                return
            except Exception as exc:
                self._write_failed = True
                error = exc
        finally:
            self._write_lock.release()
        log.debug("WebSocket write failed: %s", error)
        self._terminate()
        raise WebSocketClosed("the WebSocket connection broke: %s" % error) from error

    def _send_close_once(self, code: Optional[int], reason: str = "") -> None:
        """Send our close frame unless one was sent already (used by the reader)."""
        if self._close_sent:
            return
        self._close_sent = True
        self.closed = True
        try:
            self._send_raw(self._close_frame(code, reason), timeout=self.close_timeout)
        except WebSocketClosed:
            pass

    def _fail(self, exc: FrameError) -> None:
        """Fail the connection: close frame with the error's code, then shut down."""
        log.info("WebSocket %s protocol error, closing with %d: %s",
                 self.version, exc.close_code, exc)
        self._send_close_once(exc.close_code, _short_reason(str(exc)))
        self._terminate()

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if not self._finished:
            log.debug("WebSocket peer did not answer the close within %ss", self.close_timeout)
            self._terminate()

    def _terminate(self) -> None:
        """The end: no more reads or writes; shut the TCP connection down."""
        self.closed = True
        if self._finished:
            return
        self._finished = True
        timer, self._close_timer = self._close_timer, None
        if timer is not None and timer is not gevent.getcurrent():
            timer.kill(block=False)
        self._shutdown_socket()
        if not self._reading:
            self._release_stream()
        loop = self._loop
        if loop is not None:
            loop.finish(self)

    def _shutdown_socket(self) -> None:
        # Wakes a greenlet blocked in receive() and sends FIN.
        rsock = self._rsock
        if rsock is not None:
            try:
                rsock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        # Through the stream: its fd is duplicated only for the shutdown() call (the
        # handler's own socket object is not always reachable through WSGI); shutdown acts
        # on the connection shared by both descriptors.
        if self._stream_released:
            return
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return
        if fd is None or fd < 0:
            return
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.close()

    def _release_stream(self) -> None:
        # Closing wsgi.input tells pywsgi not to parse the connection as a new HTTP request.
        if self._stream_released:
            return
        self._stream_released = True
        try:
            self._stream.close()
        except Exception as exc:  # pragma: no cover - defensive
            log.debug("closing the WebSocket stream failed: %s", exc)

    def _read_exact(self, n: int) -> Optional[bytes]:
        """``n`` bytes, or None at end of stream."""
        if n == 0:
            return b""
        if self._rsock is None and not self._switch_to_socket():
            data = self._stream.read(n)
            if not data or len(data) < n:
                return None
            return data
        buf, pos = self._rbuf, self._rpos
        end = pos + n
        if end <= len(buf):
            if end == len(buf):
                self._rbuf, self._rpos = b"", 0
            else:
                self._rpos = end
            return buf[pos:end]
        return self._read_more(n)

    def _read_more(self, n: int) -> Optional[bytes]:
        have = self._rbuf[self._rpos:]
        self._rbuf, self._rpos = b"", 0
        recv_into = self._rsock.recv_into
        if n > _SCRATCH_SIZE:  # a big payload: straight into its own buffer
            out = bytearray(n)
            got = len(have)
            out[:got] = have
            view = memoryview(out)
            while got < n:
                r = recv_into(view[got:])
                if not r:
                    return None
                got += r
            return bytes(out)
        chunks = [have] if have else []
        total = len(have)
        while total < n:
            # One recv into the process-wide scratch buffer, copied out at once: no other
            # greenlet runs between the recv and the copy.
            r = recv_into(_SCRATCH)
            if not r:
                return None
            chunks.append(bytes(_SCRATCH_VIEW[:r]))
            total += r
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if total > n:
            self._rbuf, self._rpos = data, n
            return data[:n]
        return data

    def _switch_to_socket(self) -> bool:
        """Read from the socket itself rather than pywsgi's buffered rfile (8 KiB of buffer
        for the connection's life, two buffered reads per frame). Whatever the rfile
        already holds (a frame sent right behind the handshake) is taken over first; the
        rfile is then closed, which frees its buffer and tells pywsgi the connection is
        not HTTP any more. False (keep reading the stream) if the stream is not the plain
        socket's rfile."""
        sock = self._sock
        stream = self._stream
        if (sock is None or self._stream_released
                or compat.socket_under(stream) is not sock
                or not hasattr(stream, "peek")):
            return False
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            # The buffered bytes, or one non-blocking read when there are none.
            pending = stream.peek()
            if pending:
                pending = stream.read(len(pending))
        except (BlockingIOError, ValueError):
            return False
        finally:
            sock.settimeout(timeout)
        self._rsock = sock
        self._rbuf, self._rpos = bytes(pending or b""), 0
        self._release_stream()
        return True

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return "<%s version=%s %s>" % (type(self).__name__, self.version, state)


def _short_reason(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


class RFC6455WebSocket(WebSocket):
    """RFC 6455 framing (versions 13, 8 and 7): masked client frames, pings, fragmentation."""

    __slots__ = ()

    def __init__(self, stream: Any, write: WriteCallable, *, version: str = "13",
                 max_message_size: int = 1_000_000, close_timeout: float = 5.0,
                 sock: Any = None) -> None:
        super().__init__(stream, write, max_message_size=max_message_size,
                         close_timeout=close_timeout, sock=sock)
        self.version = version

    def _encode(self, message: Message) -> bytes:
        if isinstance(message, str):
            return encode_frame(OP_TEXT, message.encode("utf-8"))
        if isinstance(message, (bytes, bytearray, memoryview)):
            return encode_frame(OP_BINARY, bytes(message))
        raise TypeError("a WebSocket message is str or bytes, not %s" % type(message).__name__)

    def _close_frame(self, code: Optional[int], reason: str) -> bytes:
        return encode_frame(OP_CLOSE, encode_close_payload(code, reason))

    def _receive(self) -> Optional[Message]:
        try:
            return self._receive_message()
        except FrameError as exc:
            self._fail(exc)
        except OSError as exc:
            log.debug("WebSocket connection broke while reading: %s", exc)
            self._terminate()
        return None

    def _read_header(self):
        start = self._read_exact(2)
        if start is None:
            return None
        rest = self._read_exact(frame_header_length(start) - 2)
        if rest is None:
            return None
        return parse_frame_header(start + rest)

    def _check_header(self, header: Any, opcode: Optional[int], size: int) -> None:
        """FrameError unless the frame may follow: ``opcode`` is that of the fragmented
        message being assembled (None: none), ``size`` its bytes so far. Called before the
        payload is read (or buffered, or allocated for)."""
        if header.mask is None:
            raise FrameError("byte 1 of the frame header: the mask bit is 0, but client "
                             "frames must be masked")
        if not header.is_control:
            if header.opcode == OP_CONTINUATION and opcode is None:
                raise FrameError("byte 0 of the frame header: continuation frame with no "
                                 "message to continue")
            if header.opcode != OP_CONTINUATION and opcode is not None:
                raise FrameError("byte 0 of the frame header: new data frame (opcode 0x%x) "
                                 "inside an unfinished fragmented message" % header.opcode)
            if size + header.length > self.max_message_size:
                raise FrameError("message of at least %d bytes exceeds max_message_size %d"
                                 % (size + header.length, self.max_message_size),
                                 close_code=CLOSE_TOO_BIG)

    # -- reading in the event loop (read_in_loop) ----------------------------------------------

    def read_in_loop(self, on_message: Callable[[Message], Any],
                     on_end: Callable[[], Any]) -> bool:
        if self._finished or self._reading or self._loop is not None or self._close_sent:
            return False
        if self._rsock is None and not self._switch_to_socket():
            return False
        theirs = self._rsock
        if type(theirs) is not gevent.socket.socket:
            return False
        # The server's socket object lets go of the descriptor (its request may end and
        # close it: a no-op now); ours owns it from here and closes it in _terminate.
        fd = theirs.detach()
        try:
            sock = gevent.socket.socket(fileno=fd)
        except BaseException:
            os.close(fd)
            raise
        self._sock = self._rsock = sock
        self._write = sock.sendall
        hub_loop = gevent.get_hub().loop
        watcher = hub_loop.io(fd, 1)
        self._loop = _LoopReading(watcher, on_message, on_end)
        watcher.start(self._readable)
        if self._rpos < len(self._rbuf):  # bytes that came with the handshake or the upgrade
            hub_loop.run_callback(self._parse_in_loop)
        return True

    def pause_reading(self) -> None:
        loop = self._loop
        if loop is not None and not loop.paused:
            loop.paused = True
            loop.watcher.stop()

    def resume_reading(self) -> None:
        loop = self._loop
        if loop is None or not loop.paused or loop.halted or loop.ended:
            return
        loop.paused = False
        loop.watcher.start(self._readable)
        if self._rpos < len(self._rbuf):
            gevent.get_hub().loop.run_callback(self._parse_in_loop)

    def _readable(self) -> None:
        # The io watcher's callback: runs in the hub, nothing here may block.
        loop = self._loop
        if loop is None or loop.paused or loop.ended:
            return
        try:
            r = compat.os_socket(self._rsock).recv_into(_SCRATCH)  # the OS socket: never waits
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("WebSocket connection broke while reading: %s", exc)
            self._terminate()
            return
        if not r:
            log.debug("WebSocket peer closed the connection without a close frame")
            self._terminate()
            return
        chunk = bytes(_SCRATCH_VIEW[:r])
        if loop.chunks is not None:  # a big frame: gather its chunks, join them once
            loop.chunks.append(chunk)
            loop.have += r
            if loop.have < loop.need:
                return
            chunk = b"".join(loop.chunks)
            loop.chunks = None
            self._rbuf, self._rpos = chunk, 0
        elif self._rpos < len(self._rbuf):
            self._rbuf = self._rbuf[self._rpos:] + chunk
            self._rpos = 0
        else:
            self._rbuf, self._rpos = chunk, 0
        self._parse_in_loop()

    def _parse_in_loop(self) -> None:
        """Deliver every whole message buffered (in the hub), until paused or finished."""
        loop = self._loop
        if loop is None or loop.paused or loop.ended:
            return
        try:
            self._parse_frames(loop)
        except FrameError as exc:
            self._halt(self._fail, exc)
        except Exception:  # a bug here or in on_message: end the connection, say why
            log.exception("WebSocket reading failed; closing the connection")
            self._terminate()

    def _parse_frames(self, loop: "_LoopReading") -> None:
        buf, pos = self._rbuf, self._rpos
        n = len(buf)
        max_size = self.max_message_size
        while pos < n:
            if loop.paused or self._finished:
                break
            if n - pos < 2:
                break
            b0 = buf[pos]
            b1 = buf[pos + 1]
            size = b1 - 0x80  # masked, 7-bit length
            if (b0 == 0x81 or b0 == 0x82) and 0 <= size < 126 and loop.opcode is None \
                    and size <= max_size:
                # A whole small unfragmented data frame: the usual case.
                end = pos + 6 + size
                if end > n:
                    self._keep(loop, buf, pos, end - pos)
                    return
                payload = apply_mask(buf[pos + 6:end], buf[pos + 2:pos + 6])
                pos = end
                if b0 == 0x81:
                    try:
                        payload = payload.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise FrameError("invalid UTF-8 in a text message near byte %d of "
                                         "the message (%s)" % (max(exc.start, 0), exc.reason),
                                         close_code=CLOSE_INVALID_DATA) from None
                if not self._close_sent:
                    self._rbuf, self._rpos = buf, pos
                    loop.on_message(payload)
                continue
            hlen = frame_header_length(buf[pos:pos + 2])
            if n - pos < hlen:
                break
            header = parse_frame_header(buf[pos:pos + hlen])
            self._check_header(header, loop.opcode, loop.size)
            end = pos + hlen + header.length
            if end > n:
                self._keep(loop, buf, pos, end - pos)
                return
            payload = apply_mask(buf[pos + hlen:end], header.mask)
            pos = end
            opcode = header.opcode
            if opcode == OP_CLOSE:
                self._rbuf, self._rpos = buf[pos:], 0  # ignored from now on
                self._halt(self._loop_peer_closed, payload)
                return
            if opcode == OP_PING:
                if not self.closed:
                    self._pong_nowait(payload)
                continue
            if opcode == OP_PONG:
                continue
            if loop.opcode is None:
                loop.opcode = opcode
                loop.parts = []
                loop.decoder = utf8_incremental_decoder() if opcode == OP_TEXT else None
            loop.size += len(payload)
            if loop.decoder is not None:
                try:
                    loop.parts.append(loop.decoder.decode(payload, header.fin))
                except UnicodeDecodeError as exc:
                    raise FrameError("invalid UTF-8 in a text message near byte %d of the "
                                     "message (%s)" % (loop.size - len(payload)
                                                       + max(exc.start, 0), exc.reason),
                                     close_code=CLOSE_INVALID_DATA) from None
            else:
                loop.parts.append(payload)
            if not header.fin:
                continue
            message = ("".join(loop.parts) if loop.opcode == OP_TEXT
                       else b"".join(loop.parts))
            loop.opcode, loop.parts, loop.size, loop.decoder = None, None, 0, None
            if not self._close_sent:  # closing: data is read and dropped
                self._rbuf, self._rpos = buf, pos
                loop.on_message(message)
        if pos >= n:
            self._rbuf, self._rpos = b"", 0
        else:
            self._rbuf, self._rpos = buf, pos

    def _keep(self, loop: "_LoopReading", buf: bytes, pos: int, need: int) -> None:
        """An incomplete frame at ``pos`` needing ``need`` bytes in all: keep what is here;
        a big one gathers its chunks in a list until they are all there."""
        rest = buf[pos:] if pos else buf
        if need - len(rest) > _SCRATCH_SIZE:
            loop.chunks, loop.have, loop.need = [rest], len(rest), need
            self._rbuf, self._rpos = b"", 0
        else:
            self._rbuf, self._rpos = rest, 0

    def _pong_nowait(self, payload: bytes) -> None:
        try:
            rest, locked = self._send_nowait(encode_frame(OP_PONG, payload))
        except WebSocketClosed:
            return
        if rest is not None:
            # Backpressure, as when a greenlet reads: nothing more is read until this pong
            # is out (a client that pings without reading must not pile up pongs).
            self.pause_reading()
            gevent.spawn_raw(self._finish_pong, rest, locked)

    def _finish_pong(self, rest: bytes, locked: bool) -> None:
        try:
            self._send_raw(rest, locked=locked)
        except WebSocketClosed:
            pass
        finally:
            self.resume_reading()

    def _halt(self, fn: Callable[..., Any], *args: Any) -> None:
        """Stop reading for good and run ``fn`` (which may block and ends the connection)
        in a greenlet."""
        loop = self._loop
        if loop is None or loop.halted:
            return
        loop.halted = True
        self.pause_reading()
        gevent.spawn_raw(self._run_halt, fn, args)

    def _run_halt(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            fn(*args)
        except Exception:  # pragma: no cover - defensive
            log.exception("WebSocket close failed")
        finally:
            self._terminate()

    def _loop_peer_closed(self, payload: bytes) -> None:
        try:
            self._peer_closed(payload)
        except FrameError as exc:
            self._fail(exc)

    def _receive_message(self) -> Optional[Message]:
        if self._rsock is not None and not self._close_sent:
            # Fast path: a whole small unfragmented data frame is in the buffer (after at
            # most one recv). Anything else goes the general way below.
            buf, pos = self._rbuf, self._rpos
            if pos >= len(buf):
                r = self._rsock.recv_into(_SCRATCH)
                if not r:
                    log.debug("WebSocket peer closed the connection without a close frame")
                    self._terminate()
                    return None
                buf, pos = self._rbuf, self._rpos = bytes(_SCRATCH_VIEW[:r]), 0
            if len(buf) - pos >= 6:
                b0 = buf[pos]
                b1 = buf[pos + 1]
                n = b1 - 0x80  # masked, 7-bit length
                end = pos + 6 + n
                if ((b0 == 0x81 or b0 == 0x82) and 0 <= n < 126 and end <= len(buf)
                        and n <= self.max_message_size):
                    payload = apply_mask(buf[pos + 6:end], buf[pos + 2:pos + 6])
                    if end == len(buf):
                        self._rbuf, self._rpos = b"", 0
                    else:
                        self._rpos = end
                    if b0 == 0x82:
                        return payload
                    try:
                        return payload.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise FrameError("invalid UTF-8 in a text message near byte %d of the "
                                         "message (%s)" % (max(exc.start, 0), exc.reason),
                                         close_code=CLOSE_INVALID_DATA) from None
        opcode = None  # of the message being assembled
        parts: list = []
        size = 0
        decoder = None
        while True:
            header = self._read_header()
            if header is None:
                log.debug("WebSocket peer closed the connection without a close frame")
                self._terminate()
                return None
            self._check_header(header, opcode, size)  # before reading the payload
            payload = self._read_exact(header.length)
            if payload is None:
                log.debug("WebSocket connection ended inside a frame payload")
                self._terminate()
                return None
            payload = apply_mask(payload, header.mask)

            if header.opcode == OP_CLOSE:
                self._peer_closed(payload)
                return None
            if header.opcode == OP_PING:
                try:
                    self._send_raw(encode_frame(OP_PONG, payload), message=True)
                except WebSocketClosed:
                    if self._write_failed:
                        raise
                    # closing: no pong after our close frame; keep reading for the peer's close
                continue
            if header.opcode == OP_PONG:
                continue

            if opcode is None:
                opcode = header.opcode
                decoder = utf8_incremental_decoder() if opcode == OP_TEXT else None
            size += len(payload)
            if decoder is not None:
                try:
                    parts.append(decoder.decode(payload, header.fin))
                except UnicodeDecodeError as exc:
                    raise FrameError("invalid UTF-8 in a text message near byte %d of the "
                                     "message (%s)" % (size - len(payload) + max(exc.start, 0),
                                                       exc.reason),
                                     close_code=CLOSE_INVALID_DATA) from None
            else:
                parts.append(payload)
            if not header.fin:
                continue
            message = "".join(parts) if opcode == OP_TEXT else b"".join(parts)
            if self._close_sent:  # closing: data is read and dropped until the peer's close
                opcode, parts, size, decoder = None, [], 0, None
                continue
            return message

    def _peer_closed(self, payload: bytes) -> None:
        code, reason = parse_close_payload(payload)  # FrameError -> _fail
        self.close_code, self.close_reason = code, reason
        log.debug("WebSocket peer closed with %s %r", code, reason)
        try:
            self._send_close_once(code if code is not None else None)
        finally:
            self._terminate()


class _LoopReading:
    """The state of a WebSocket read in the event loop (see WebSocket.read_in_loop)."""

    __slots__ = ("watcher", "on_message", "on_end", "paused", "halted", "ended",
                 "opcode", "parts", "size", "decoder", "chunks", "have", "need")

    def __init__(self, watcher: Any, on_message: Callable[[Message], Any],
                 on_end: Callable[[], Any]) -> None:
        self.watcher = watcher
        self.on_message = on_message
        self.on_end = on_end
        self.paused = False  # not reading for now (pause_reading, or halted)
        self.halted = False  # not reading any more: the connection is ending
        self.ended = False  # the socket is closed and on_end called
        # a fragmented message being assembled: its opcode, parts, size so far, decoder
        self.opcode: Optional[int] = None
        self.parts: Optional[list] = None
        self.size = 0
        self.decoder: Any = None
        # a big frame arriving: its chunks so far, their size, the size of the whole frame
        self.chunks: Optional[list] = None
        self.have = 0
        self.need = 0

    def finish(self, ws: WebSocket) -> None:
        """From WebSocket._terminate: stop watching, close the socket, call on_end."""
        if self.ended:
            return
        self.ended = True
        self.paused = self.halted = True
        self.watcher.stop()
        self.watcher.close()
        try:
            ws._rsock.close()
        except OSError:  # pragma: no cover - defensive
            pass
        gevent.spawn_raw(self._end)

    def _end(self) -> None:
        try:
            self.on_end()
        except Exception:
            log.exception("WebSocket on_end raised")


class Hixie76WebSocket(WebSocket):
    """hixie-76 framing: ``0x00`` + UTF-8 + ``0xFF`` text frames, ``0xFF 0x00`` to close."""

    __slots__ = ("_decoder", "_pending", "_read_some")

    def __init__(self, stream: Any, write: WriteCallable, *, max_message_size: int = 1_000_000,
                 close_timeout: float = 5.0, sock: Any = None) -> None:
        super().__init__(stream, write, max_message_size=max_message_size,
                         close_timeout=close_timeout, sock=sock)
        self.version = "hixie-76"
        self._decoder = Hixie76Decoder(max_message_size)
        self._pending: collections.deque = collections.deque()
        self._read_some = getattr(stream, "read1", None) or (lambda n: stream.read(1))

    def _encode(self, message: Message) -> bytes:
        if isinstance(message, str):
            return hixie76_frame(message)
        raise TypeError("hixie-76 carries text only, not %s" % type(message).__name__)

    def _close_frame(self, code: Optional[int], reason: str) -> bytes:
        return HIXIE76_CLOSE

    def _receive(self) -> Optional[Message]:
        while True:
            if self._pending and not self._close_sent:
                return self._pending.popleft()
            if self._decoder.closed:
                log.debug("WebSocket hixie-76 peer closed")
                self._send_close_once(None)
                self._terminate()
                return None
            try:
                data = self._read_some(_READ_CHUNK)
            except OSError as exc:
                log.debug("WebSocket connection broke while reading: %s", exc)
                data = b""
            if not data:
                self._terminate()
                return None
            try:
                messages = self._decoder.feed(data)
            except FrameError as exc:
                self._fail(exc)
                return None
            if not self._close_sent:  # once we sent the close, data is dropped
                self._pending.extend(messages)
