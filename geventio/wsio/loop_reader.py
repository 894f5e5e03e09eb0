"""Reading an RFC 6455 WebSocket in the event loop, with no greenlet.

A :class:`LoopReader` owns the connection's socket once
:meth:`~geventio.wsio.connection.WebSocket.read_in_loop` has taken it over: a libev io
watcher calls :meth:`LoopReader.readable` in the hub, which makes one non-blocking read into
the process-wide scratch buffer, feeds the WebSocket's
:class:`~geventio.protocol.rfc6455.FrameDecoder` and delivers each whole message, in order,
while reading is not paused. Nothing here blocks: what may block (answering the peer's
close, failing the connection, ``on_end``) runs in a greenlet of its own.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import gevent

from .. import _gevent_compat as compat
from ..protocol.rfc6455 import Close, FrameDecoder, FrameError, Message, Ping
from .scratch import SCRATCH, SCRATCH_VIEW

__all__ = ["LoopReader"]

log = logging.getLogger(__name__)


class LoopReader:
    """The event-loop reader of one WebSocket connection (see module docstring).

    ``on_message(message)`` is called in the hub for each whole message (it must not block;
    it may :meth:`pause`). The connection's own behaviour comes as callbacks:
    ``on_ping(payload)`` answers a ping without blocking, ``on_close(code, reason)`` answers
    the peer's close and ``on_error(frame_error)`` fails the connection (both run in a
    greenlet, after which reading stops for good), and ``terminate()`` ends the connection
    (which calls :meth:`finish`). ``on_end()`` is called once, in a greenlet, after the
    socket is closed.
    """

    __slots__ = ("sock", "paused", "halted", "ended", "dropping", "_os_sock", "_watcher",
                 "_decoder", "_on_message", "_on_end", "_on_ping", "_on_close", "_on_error",
                 "_terminate")

    def __init__(self, sock: Any, decoder: FrameDecoder, on_message: Callable[[Message], Any],
                 on_end: Callable[[], Any], *, on_ping: Callable[[bytes], Any],
                 on_close: Callable[[Optional[int], str], Any],
                 on_error: Callable[[FrameError], Any], terminate: Callable[[], Any]) -> None:
        #: The gevent socket read (and closed, in :meth:`finish`).
        self.sock = sock
        self.paused = False  # not reading for now (pause, or halted)
        self.halted = False  # not reading any more: the connection is ending
        self.ended = False  # the socket is closed and on_end called
        #: Set by the WebSocket once its close frame went out: data messages are dropped.
        self.dropping = False
        self._os_sock = compat.os_socket(sock)  # its calls never wait
        self._watcher: Any = None
        self._decoder = decoder
        self._on_message = on_message
        self._on_end = on_end
        self._on_ping = on_ping
        self._on_close = on_close
        self._on_error = on_error
        self._terminate = terminate

    def start(self) -> None:
        """Start watching the socket; deliver at once what the decoder already holds (bytes
        that came with the handshake)."""
        hub_loop = gevent.get_hub().loop
        self._watcher = hub_loop.io(self.sock.fileno(), 1)
        self._watcher.start(self.readable)
        if self._decoder.buffered:
            hub_loop.run_callback(self.deliver)

    def pause(self) -> None:
        """Stop reading and delivering messages until :meth:`resume`."""
        if not self.paused:
            self.paused = True
            self._watcher.stop()

    def resume(self) -> None:
        """Deliver what was read meanwhile and read on (unless the connection is ending)."""
        if not self.paused or self.halted or self.ended:
            return
        self.paused = False
        self._watcher.start(self.readable)
        if self._decoder.buffered:
            gevent.get_hub().loop.run_callback(self.deliver)

    def readable(self) -> None:
        """The io watcher's callback: runs in the hub, nothing here may block."""
        if self.paused:
            return
        try:
            r = self._os_sock.recv_into(SCRATCH)
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
        self._decoder.feed(bytes(SCRATCH_VIEW[:r]))
        self.deliver()

    def deliver(self) -> None:
        """Hand over every whole message decoded (in the hub), until paused or ended."""
        if self.paused:
            return
        decoder = self._decoder
        try:
            while True:
                event = decoder.next_event()
                if event is None:
                    return
                if isinstance(event, (str, bytes)):
                    if not self.dropping:  # closing: data is read and dropped
                        self._on_message(event)
                elif type(event) is Ping:
                    self._on_ping(event.payload)
                elif type(event) is Close:
                    self._halt(self._on_close, event.code, event.reason)
                    return
                if self.paused:
                    return
        except FrameError as exc:
            self._halt(self._on_error, exc)
        except Exception:  # a bug here or in on_message: end the connection, say why
            log.exception("WebSocket reading failed; closing the connection")
            self._terminate()

    def finish(self) -> None:
        """The connection is over (from the WebSocket's end): stop watching, close the
        socket, call on_end (once)."""
        if self.ended:
            return
        self.ended = True
        self.paused = self.halted = True
        watcher = self._watcher
        if watcher is not None:
            watcher.stop()
            watcher.close()
        try:
            self.sock.close()
        except OSError:  # pragma: no cover - defensive
            pass
        gevent.spawn_raw(self._end)

    def _halt(self, fn: Callable[..., Any], *args: Any) -> None:
        """Stop reading for good and run ``fn`` (which may block and ends the connection)
        in a greenlet."""
        if self.halted:
            return
        self.halted = True
        self.pause()
        gevent.spawn_raw(self._run_halt, fn, args)

    def _run_halt(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            fn(*args)
        except Exception:  # pragma: no cover - defensive
            log.exception("WebSocket close failed")
        finally:
            self._terminate()

    def _end(self) -> None:
        try:
            self._on_end()
        except Exception:
            log.exception("WebSocket on_end raised")
