"""Writes a session's outbox to its WebSocket, with no greenlet while nothing is pending.

Shared by the 0.6 websocket/flashsocket transport and the Engine.IO WebSocket transport.
"""
from __future__ import annotations

import logging
from typing import Optional

import gevent
from gevent.event import Event

log = logging.getLogger(__name__)

#: after a session closes, how long its last messages and the close frame may take to leave
#: before the connection is dropped (a client that stopped reading)
FLUSH_DEADLINE = 10.0


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

    __slots__ = ("session", "ws", "encode", "on_done", "busy", "greenlet", "done", "scheduled",
                 "deadline")

    def __init__(self, session, ws, encode=None, on_done=None) -> None:
        self.session = session
        self.ws = ws
        self.encode = encode  # items -> messages (None: as they are)
        self.on_done = on_done
        self.busy = False  # a write is in progress (a greenlet owns the writing)
        self.greenlet = None
        self.done: Optional[Event] = None  # set once the WebSocket is closed by us
        self.scheduled = False  # a write is due at the end of this turn of the loop
        self.deadline = None  # after the close: the timer that gives up on a stuck flush

    def start(self) -> None:
        self.session.on_push = self.flush
        self.flush()  # what was queued before (an upgrade)

    def flush(self) -> None:
        session = self.session
        if session.closed:
            if self.done is None:
                self.done = Event()
                if self.busy:
                    self._arm_deadline()
                    return  # the writing greenlet flushes and closes
                if self.ws.closed and not session.pending and self.on_done is None:
                    self.done.set()  # nothing left to send, nor a way to send it
                    return
                self._arm_deadline()
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
            deadline, self.deadline = self.deadline, None
            if deadline is not None:
                deadline.stop()
            if self.on_done is not None:
                self.on_done()

    def _arm_deadline(self) -> None:
        # A client that stops reading (zero window) would hold the final flush, and with
        # it the socket and this writer, forever: give up after FLUSH_DEADLINE.
        timer = gevent.get_hub().loop.timer(FLUSH_DEADLINE)
        self.deadline = timer
        timer.start(self._deadline_passed)

    def _deadline_passed(self) -> None:
        # In the hub.
        self.deadline = None
        if self.done is not None and not self.done.is_set():
            log.info("session %s: the client has not taken its last messages within %s s; "
                     "dropping the connection", self.session.id, FLUSH_DEADLINE)
            self.ws.abort()

    def wait_done(self, timeout: float) -> None:
        """After the session closed: wait for the final flush, then kill a stuck writer."""
        done = self.done
        if done is not None and not done.wait(timeout):
            g = self.greenlet
            if g is not None:
                gevent.kill(g)
