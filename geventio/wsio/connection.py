"""A connected WebSocket: blocking receive, send (blocking or not), the closing handshake.

:class:`WebSocket` holds what both framings share: serialized writes (one greenlet may
block writing while others queue), non-blocking writes for the event loop, :meth:`close`
with its timer, and the end of the connection (``_terminate``: shut the TCP connection
down, release pywsgi's stream). :class:`RFC6455WebSocket` reads with the sans-I/O
:class:`~geventio.protocol.rfc6455.FrameDecoder`, either from a greenlet blocked in
:meth:`WebSocket.receive` (here) or in the event loop (:meth:`WebSocket.read_in_loop`,
driving a :class:`~geventio.wsio.loop_reader.LoopReader`). hixie-76 is in
:mod:`geventio.wsio.hixie76`; the handshake that makes these in :mod:`geventio.wsio.handshake`.
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable, Optional, Sequence, Tuple

import gevent
import gevent.socket
from gevent.lock import Semaphore

from .. import _gevent_compat as compat
from ..protocol.rfc6455 import (
    CLOSE_NORMAL, OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT, FrameDecoder, FrameError, Message,
    Ping, Close, encode_close_payload, encode_frame,
)
from .loop_reader import LoopReader
from .scratch import SCRATCH, SCRATCH_SIZE, SCRATCH_VIEW

__all__ = ["WebSocket", "RFC6455WebSocket", "WebSocketClosed", "Message"]

log = logging.getLogger(__name__)

WriteCallable = Callable[[bytes], Any]


def _plain_socket(write: Any) -> Any:
    """The gevent socket behind pywsgi's write callable when it is a plain TCP socket (not
    TLS): non-blocking writes go straight to it. None otherwise."""
    sock = getattr(getattr(write, "__self__", None), "socket", None)
    return sock if type(sock) is gevent.socket.socket else None


class WebSocketClosed(ConnectionError):
    """The WebSocket is closed (or its connection broke): nothing more can be sent."""


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
                 "_rsock", "_loop", "__weakref__")

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
        # Reading straight from the socket (RFC 6455, see _switch_to_socket), or None.
        self._rsock: Any = None
        self._loop: Optional[LoopReader] = None  # see read_in_loop

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
            self._mark_close_sent()
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

    @property
    def extensions(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value agreed in the handshake ('' for none)."""
        return ""

    @property
    def deflate(self) -> Any:
        """The connection's :class:`~geventio.protocol.permessage_deflate.PerMessageDeflate`
        when permessage-deflate was agreed, else None (read-only)."""
        return None

    # -- for subclasses -----------------------------------------------------------------------

    def _receive(self) -> Optional[Message]:
        raise NotImplementedError

    def _encode(self, message: Message) -> bytes:
        raise NotImplementedError

    def _close_frame(self, code: Optional[int], reason: str) -> bytes:
        raise NotImplementedError

    # -- internals ----------------------------------------------------------------------------

    def send_handshake(self, data: bytes) -> None:
        """Write the end of the handshake (after the 101 headers) that makes this WebSocket:
        for :mod:`geventio.wsio.handshake`. Raises :class:`WebSocketClosed`."""
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
        self._mark_close_sent()
        self.closed = True
        try:
            self._send_raw(self._close_frame(code, reason), timeout=self.close_timeout)
        except WebSocketClosed:
            pass

    def _mark_close_sent(self) -> None:
        """Our close frame is going out: from now on received data messages are dropped."""
        self._close_sent = True
        if self._loop is not None:
            self._loop.dropping = True

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
            loop.finish()

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

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return "<%s version=%s %s>" % (type(self).__name__, self.version, state)


def _short_reason(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


class RFC6455WebSocket(WebSocket):
    """RFC 6455 framing (versions 13, 8 and 7): masked client frames, pings, fragmentation.

    Both ways of reading (a greenlet in :meth:`receive`, or the event loop after
    :meth:`read_in_loop`) drive one :class:`~geventio.protocol.rfc6455.FrameDecoder`, which
    holds the bytes received and not decoded yet.
    """

    __slots__ = ("_decoder",)

    def __init__(self, stream: Any, write: WriteCallable, *, version: str = "13",
                 max_message_size: int = 1_000_000, close_timeout: float = 5.0,
                 sock: Any = None) -> None:
        super().__init__(stream, write, max_message_size=max_message_size,
                         close_timeout=close_timeout, sock=sock)
        self.version = version
        self._decoder = FrameDecoder(max_message_size)

    def _encode(self, message: Message) -> bytes:
        if isinstance(message, str):
            return encode_frame(OP_TEXT, message.encode("utf-8"))
        if isinstance(message, (bytes, bytearray, memoryview)):
            return encode_frame(OP_BINARY, bytes(message))
        raise TypeError("a WebSocket message is str or bytes, not %s" % type(message).__name__)

    def _close_frame(self, code: Optional[int], reason: str) -> bytes:
        return encode_frame(OP_CLOSE, encode_close_payload(code, reason))

    # -- reading in a greenlet (receive) --------------------------------------------------------

    def _receive(self) -> Optional[Message]:
        decoder = self._decoder
        try:
            while True:
                event = decoder.next_event()
                if event is None:
                    if not self._read_some():
                        log.debug("WebSocket peer closed the connection %s",
                                  "inside a frame" if decoder.buffered
                                  else "without a close frame")
                        self._terminate()
                        return None
                elif isinstance(event, (str, bytes)):
                    if not self._close_sent:  # closing: data is read and dropped
                        return event
                elif type(event) is Ping:
                    try:
                        self._send_raw(encode_frame(OP_PONG, event.payload), message=True)
                    except WebSocketClosed:
                        if self._write_failed:
                            raise
                        # closing: no pong after our close frame; read on for the peer's close
                elif type(event) is Close:
                    self._peer_closed(event.code, event.reason)
                    return None
        except FrameError as exc:
            self._fail(exc)
        except OSError as exc:
            log.debug("WebSocket connection broke while reading: %s", exc)
            self._terminate()
        return None

    def _read_some(self) -> bool:
        """Feed the decoder what the connection has, blocking until there is some (at most
        what the decoder needs, when reading pywsgi's stream). False at its end."""
        decoder = self._decoder
        sock = self._rsock
        if sock is None:
            if self._switch_to_socket():
                if decoder.buffered:
                    return True
                sock = self._rsock
            else:
                need = decoder.needed
                data = self._stream.read(need)
                if not data or len(data) < need:
                    return False
                decoder.feed(data)
                return True
        need = decoder.needed  # 2 between frames
        if need > SCRATCH_SIZE:  # the rest of a big frame: straight into its own buffer
            out = bytearray(need)
            view = memoryview(out)
            got = 0
            while got < need:
                r = sock.recv_into(view[got:])
                if not r:
                    return False
                got += r
            decoder.feed(out)
            return True
        # One recv into the process-wide scratch buffer, copied out at once: no other
        # greenlet runs between the recv and the copy.
        r = sock.recv_into(SCRATCH)
        if not r:
            return False
        decoder.feed(bytes(SCRATCH_VIEW[:r]))
        return True

    def _switch_to_socket(self) -> bool:
        """Read from the socket itself rather than pywsgi's buffered rfile (8 KiB of buffer
        for the connection's life, two buffered reads per frame). Whatever the rfile
        already holds (a frame sent right behind the handshake) is taken over first (fed to
        the decoder); the rfile is then closed, which frees its buffer and tells pywsgi the
        connection is not HTTP any more. False (keep reading the stream) if the stream is
        not the plain socket's rfile."""
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
        if pending:
            self._decoder.feed(bytes(pending))
        self._release_stream()
        return True

    def _peer_closed(self, code: Optional[int], reason: str) -> None:
        """The peer's close frame: answer it (once) and end the connection."""
        self.close_code, self.close_reason = code, reason
        log.debug("WebSocket peer closed with %s %r", code, reason)
        try:
            self._send_close_once(code)
        finally:
            self._terminate()

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
        # close it: a no-op now); ours owns it from here and the LoopReader closes it.
        fd = theirs.detach()
        try:
            sock = gevent.socket.socket(fileno=fd)
        except BaseException:
            os.close(fd)
            raise
        self._sock = self._rsock = sock
        self._write = sock.sendall
        self._loop = LoopReader(sock, self._decoder, on_message, on_end,
                                on_ping=self._pong_nowait, on_close=self._peer_closed,
                                on_error=self._fail, terminate=self._terminate)
        self._loop.start()
        return True

    def pause_reading(self) -> None:
        if self._loop is not None:
            self._loop.pause()

    def resume_reading(self) -> None:
        if self._loop is not None:
            self._loop.resume()

    def _pong_nowait(self, payload: bytes) -> None:
        """Answer a ping read in the event loop, without blocking."""
        if self.closed:
            return
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
