"""Engine.IO over WebSocket: a WebSocket-only session, or the upgrade of a polling one.

Upgrade (both revisions): the client opens a WebSocket with the polling session's sid and
sends ``2probe``; the server answers ``3probe`` and ends a waiting poll with one ``6``; the
client sends ``5`` and from then on everything goes over the WebSocket. Nothing queued is
lost or reordered: packets stay in the session's outbox until the transport that owns it
flushes them.

The request greenlet reads. Queued packets are written by whichever greenlet pushes them,
with one non-blocking socket write per batch; a writer greenlet exists only while the socket
would block (see :class:`OutboxWriter`).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional

import gevent
from gevent.event import Event

from .. import websocket as ws_io
from ..engine import EngineSession
from ..protocol import engineio as eio
from .eio_polling import EIOError
from .http import Exchange

log = logging.getLogger(__name__)

UPGRADE_TIMEOUT = 10.0
CLOSE_GRACE = 2.0


def handle(ex: Exchange, version: int, query: Dict[str, str]) -> List[bytes]:
    if ex.method != "GET":
        raise EIOError(2, "a WebSocket handshake must be a GET")
    sid = query.get("sid")
    session: Optional[EngineSession] = None
    if sid:
        found = ex.router._sessions.get(sid)
        if not isinstance(found, EngineSession) or found.eio != version:
            raise EIOError(1, "unknown session id")
        session = found
    try:
        ws = ws_io.upgrade(ex.environ, ex.start_response,
                           max_message_size=ex.router.settings.max_http_buffer_size)
    except ws_io.HandshakeError as exc:
        raise EIOError(3, "bad WebSocket handshake: %s" % exc) from None
    if session is None:
        try:
            session = ex.router._new_modern_session(ex, "websocket", version, False)
        except Exception as exc:  # too many sessions
            log.warning("WebSocket session refused: %s", exc)
            ws.close(1013)
            return []
        session.open([])
    elif not _upgrade(session, ws):
        return []
    _run(session, ws)
    return []


def _upgrade(session: EngineSession, ws) -> bool:
    """Probe and switch a polling session to this WebSocket. False (and the socket
    closed, the session untouched) if it is not upgradable or the client gives up."""
    if session.transport != "polling" or session.upgrading or session.upgraded or session.closed:
        log.info("session %s: refused a second WebSocket", session.id)
        ws.close(1008)
        return False
    session.upgrading = True
    try:
        with gevent.Timeout(UPGRADE_TIMEOUT, False):
            message = ws.receive()
            if message == "2probe":
                ws.send("3probe")
                session.end_poll()  # a waiting GET answers "6"; the client then sends 5
                message = ws.receive()
                while message == "2probe":  # a client may probe again
                    ws.send("3probe")
                    message = ws.receive()
                if message == "5" and not session.closed:
                    session.upgraded = True
                    session.transport = "websocket"
                    return True
        log.info("session %s: WebSocket upgrade abandoned", session.id)
        ws.close(1002)
        return False
    finally:
        session.upgrading = False


def _run(session: EngineSession, ws) -> None:
    session.attach()
    writer = OutboxWriter(session, ws, _v3_encoder if session.eio == 3 else None)
    writer.start()
    decode = eio.decode_packet if session.eio == 4 else eio.decode_packet_v3
    try:
        while not session.closed:
            message = ws.receive()
            if message is None:
                break
            try:
                packet = decode(message)
                if packet.type == eio.UPGRADE:
                    raise eio.ProtocolError("already upgraded")
                session.receive_packet(packet)
            except eio.ProtocolError as exc:
                log.warning("session %s closed: bad packet over WebSocket: %s", session.id, exc)
                ws.close(1002)
                break
    except gevent.GreenletExit:
        pass
    finally:
        session.close("transport close")
        writer.wait_done(CLOSE_GRACE)


def _v3_encoder(items):
    return [b"\x04" + i if isinstance(i, bytes) else i for i in items]


class OutboxWriter:
    """Writes a session's outbox to its WebSocket with no greenlet while nothing is pending.

    Installed as the session's ``on_push`` hook: frames pushed while no write is in progress
    are sent at once by the pushing greenlet with one non-blocking write. Only when the
    socket would block (or a write is in progress) does a raw greenlet start; it writes the
    rest, then drains the outbox in order and ends when it is empty. A pusher (a broadcast,
    say) never blocks on a slow client. When the session closes, what is queued is flushed
    and the WebSocket closed (in a greenlet, as a close frame may block); ``on_done`` runs
    after that.
    """

    __slots__ = ("session", "ws", "encode", "on_done", "busy", "greenlet", "done", "scheduled")

    def __init__(self, session, ws, encode=None, on_done=None) -> None:
        self.session = session
        self.ws = ws
        self.encode = encode  # items -> messages (None: as they are)
        self.on_done = on_done
        self.busy = False  # a write is in progress (a greenlet owns the writing)
        self.greenlet = None
        self.done: Optional[Event] = None  # set once the WebSocket is closed by us
        self.scheduled = False  # a write is due at the end of this turn of the loop

    def start(self) -> None:
        self.session.on_push = self.flush
        self.flush()  # what was queued before (an upgrade)

    def flush(self) -> None:
        session = self.session
        if session.closed:
            if self.done is None:
                self.done = Event()
                if self.busy:
                    return  # the writing greenlet flushes and closes
                if self.ws.closed and not session.pending and self.on_done is None:
                    self.done.set()  # nothing left to send, nor a way to send it
                    return
                self.busy = True
                self.greenlet = gevent.spawn_raw(self._drain, None, False)
            return
        if self.busy or self.scheduled:
            return  # the writing greenlet, or the write already due, picks it up
        # Write when the pushing greenlet yields, not at once: everything pushed in the
        # meantime (a burst, several broadcasts) leaves in the same write.
        self.scheduled = True
        gevent.get_hub().loop.run_callback(self._write_due)

    def _write_due(self) -> None:
        # Runs in the hub: nothing here may block.
        self.scheduled = False
        session = self.session
        if session.closed:
            self.flush()
            return
        if self.busy:
            return
        items = session.take_nowait()
        if not items:
            return
        if self.encode is not None:
            items = self.encode(items)
        self.busy = True
        try:
            rest, locked = self.ws.send_many_nowait(items)
        except Exception as exc:
            # This may run in the hub (a heartbeat): close in a greenlet.
            log.debug("session %s: WebSocket write failed: %s", session.id, exc)
            self.greenlet = gevent.spawn_raw(self._drain, None, False, True)
            return
        if rest is None:
            self.busy = False
        else:
            self.greenlet = gevent.spawn_raw(self._drain, rest, locked)

    def _drain(self, rest, locked, broken=False) -> None:
        """Write ``rest`` then the outbox until it is empty; once the session is closed (or
        the connection ``broken``), close the WebSocket."""
        session, ws = self.session, self.ws
        try:
            if not broken:
                if rest is not None:
                    ws.finish_send(rest, locked)
                while True:
                    items = session.take_nowait()
                    if items is None:
                        break  # closed and drained
                    if not items:  # nothing more for now: the next push writes directly
                        self.busy = False
                        self.greenlet = None
                        return
                    if self.encode is not None:
                        items = self.encode(items)
                    ws.send_many(items)
        except Exception as exc:
            log.debug("session %s: WebSocket write failed: %s", session.id, exc)
        if not session.closed:
            session.close("transport error")  # calls flush: busy, nothing more to do
        if self.done is None:
            self.done = Event()
        try:
            ws.close()
        finally:
            self.busy = False
            self.greenlet = None
            self.done.set()
            if self.on_done is not None:
                self.on_done()

    def wait_done(self, timeout: float) -> None:
        """After the session closed: wait for the final flush, then kill a stuck writer."""
        done = self.done
        if done is not None and not done.wait(timeout):
            g = self.greenlet
            if g is not None:
                gevent.kill(g)
