"""Engine.IO over WebSocket: a WebSocket-only session, or the upgrade of a polling one.

Upgrade (both revisions): the client opens a WebSocket with the polling session's sid; this
module hands it to the session (:meth:`geventio.engine.EngineSession.upgrade`), which runs
the probe (``2probe`` / ``3probe`` / ``5``). From then on everything goes over the WebSocket.
Nothing queued is lost or reordered: packets stay in the session's outbox until the
transport that owns it flushes them.

No greenlet waits on an open WebSocket. Reading: the connection is read in the event loop
(:meth:`geventio.wsio.WebSocket.read_in_loop`, an io watcher) and the request greenlet
ends; each message is decoded and handed to the session right there when that cannot block
(the session only queues jobs for its worker), or else in a short-lived greenlet while
reading pauses (a full inbox: backpressure). Where the WebSocket cannot be read that way
(TLS), the request greenlet reads, blocking, as before. Writing: queued packets are written
by whichever greenlet pushes them, with one non-blocking socket write per batch; a writer
greenlet exists only while the socket would block (see
:class:`geventio.transports.outbox.OutboxWriter`).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Union

import gevent

from .. import wsio as ws_io
from ..engine import EngineSession
from ..protocol import engineio as eio
from .eio_polling import handshake_headers, new_session
from .http import EIOError, Exchange
from .outbox import OutboxWriter

log = logging.getLogger(__name__)

CLOSE_GRACE = 2.0


def handle(ex: Exchange, version: int, query: Dict[str, str]) -> List[bytes]:
    if ex.method != "GET":
        raise EIOError(2, "a WebSocket handshake must be a GET")
    sid = query.get("sid")
    if sid:
        found = ex.context.sessions.get(sid)
        if not isinstance(found, EngineSession) or found.eio != version:
            raise EIOError(1, "unknown session id")
        session, new = found, False
    else:
        # A WebSocket-only handshake: the session exists before the 101, so that
        # max_sessions is a 503 while an HTTP answer is still possible (TooManySessions)
        # and the ``cookie`` setting can name its id in the 101.
        session, new = new_session(ex, "websocket", version, False), True
    try:
        ws = ws_io.upgrade(ex.environ, ex.start_response,
                           max_message_size=ex.context.settings.max_http_buffer_size,
                           extra_headers=handshake_headers(ex, session) if new else (),
                           deflate=ex.context.ws_deflate)
    except ws_io.HandshakeError as exc:
        if new:
            session.close("bad WebSocket handshake")
        raise EIOError(3, "bad WebSocket handshake: %s" % exc) from None
    except BaseException:
        if new:
            session.close("transport error")
        raise
    if new:
        session.open([])
    elif not session.upgrade(ws):  # the session runs the probe
        return []
    _run(session, ws)
    return []


def _run(session: EngineSession, ws) -> None:
    writer = OutboxWriter(session, ws, _v3_encoder if session.eio == 3 else None)
    decode = eio.decode_packet if session.eio == 4 else eio.decode_packet_v3
    reader = _Delivery(session, ws, writer, decode)
    try:
        in_loop = ws.read_in_loop(reader.on_message, reader.on_end)
    except BaseException:
        session.close("transport error")
        raise
    writer.start()
    if in_loop:
        return  # the request ends; the connection lives on in the event loop
    try:
        while not session.closed:
            message = ws.receive()
            if message is None:
                break
            try:
                reader.deliver(message)
            except eio.ProtocolError as exc:
                log.warning("session %s closed: bad packet over WebSocket: %s", session.id, exc)
                ws.close(1002)
                break
    except gevent.GreenletExit:
        pass
    finally:
        session.close("transport close")
        writer.wait_done(CLOSE_GRACE)


class _Delivery:
    """Hands the messages of a WebSocket to its session: in the hub when that cannot block
    (read in the event loop), else from a greenlet while reading pauses."""

    __slots__ = ("session", "ws", "writer", "decode")

    def __init__(self, session: EngineSession, ws, writer: OutboxWriter, decode) -> None:
        self.session = session
        self.ws = ws
        self.writer = writer
        self.decode = decode

    def on_message(self, message) -> None:
        # In the hub: nothing here may block.
        session = self.session
        if session.closed:
            return  # closing: the WebSocket close is under way
        if session.receive_would_block():
            self.ws.pause_reading()
            gevent.spawn_raw(self._receive_blocking, message)
            return
        self._receive(message)

    def deliver(self, message: Union[str, bytes]) -> None:
        """Decode one message and hand its packet to the session (whichever greenlet
        reads). Raises ProtocolError for a bad packet, or an UPGRADE once upgraded."""
        packet = self.decode(message)
        if packet.type == eio.UPGRADE:
            raise eio.ProtocolError("already upgraded")
        self.session.receive_packet(packet)

    def _receive(self, message) -> bool:
        """Hand one message to the session; False if it broke the protocol (reading is
        then paused until the WebSocket close is under way)."""
        session = self.session
        try:
            self.deliver(message)
        except eio.ProtocolError as exc:
            log.warning("session %s closed: bad packet over WebSocket: %s", session.id, exc)
            self.ws.pause_reading()
            gevent.spawn_raw(self._refuse)
            return False
        return True

    def _receive_blocking(self, message) -> None:
        ok = False
        try:
            ok = self._receive(message)
        except Exception:
            ok = True
            log.exception("session %s: handling a WebSocket message failed", self.session.id)
            self.session.close("transport error")
        finally:
            if ok:
                self.ws.resume_reading()

    def _refuse(self) -> None:
        self.ws.close(1002)
        # Read on: what follows is dropped, and the client's answer to our close frame
        # ends the connection (or close_timeout does).
        self.ws.resume_reading()
        self.session.close("transport close")

    def on_end(self) -> None:
        # In a greenlet of its own, once the connection is over.
        self.session.close("transport close")
        self.writer.wait_done(CLOSE_GRACE)


def _v3_encoder(items):
    return [b"\x04" + i if isinstance(i, bytes) else i for i in items]
