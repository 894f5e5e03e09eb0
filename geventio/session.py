"""The session core: one client's queues, greenlets and lifecycle, whatever its transport.

A session owns:

* an **outbox**: encoded frames waiting for the client, drained whole by whichever transport
  request is attached (a long-poll, a stream, a WebSocket writer), in order. It is bounded;
  a client too slow to keep up is closed with a log line saying which bound it hit.
* an **inbox** and one **worker greenlet** that runs the user's handlers one at a time, in
  arrival order. Handlers may block without stalling the transport or other clients. The
  worker is spawned on the first job and ends when it has had nothing to do for a while
  (``WORKER_IDLE``); the next job spawns a new one.
* the greenlets it spawns (heartbeats and the like): tracked, all killed when it closes.

Closing happens exactly once. Frames already queued stay readable so a transport can flush
them; the handlers' ``on_close`` runs in the worker after every job queued before it.
"""
from __future__ import annotations

import base64
import enum
import logging
import os
import time
from typing import (TYPE_CHECKING, Any, Callable, List, Optional, Protocol, Sequence, Set, Tuple,
                    Union)

import gevent
from gevent.event import Event
from gevent.queue import Full, Queue

if TYPE_CHECKING:  # pragma: no cover
    from .connection import SocketConnection
    from .context import Context
    from .protocol.socketio import Packet
    from .request import Request

log = logging.getLogger(__name__)

Item = Union[str, bytes]

_WAKE = object()
_IDLE = object()

#: seconds a session's worker greenlet waits for more work before it ends (it ends after
#: between one and two of these without a job: one idle timer per worker ticks at this
#: interval, so a job costs no timer of its own)
WORKER_IDLE = 0.5


_ID_BYTES = 15
_pool = b""
_pool_pos = 0
_id_tag = ""  # tag_session_ids


def _forget_pool() -> None:
    global _pool, _pool_pos
    _pool, _pool_pos = b"", 0


# A forked worker must never hand out the ids its parent's pool still holds.
os.register_at_fork(after_in_child=_forget_pool)


def new_session_id() -> str:
    """120 random bits from the OS CSPRNG, URL-safe (20 characters).

    The bits come from ``os.urandom`` in blocks of 273 ids, not one system call per id."""
    global _pool, _pool_pos
    if _pool_pos + _ID_BYTES > len(_pool):
        _pool, _pool_pos = os.urandom(_ID_BYTES * 273), 0
    chunk = _pool[_pool_pos:_pool_pos + _ID_BYTES]
    _pool_pos += _ID_BYTES
    sid = base64.urlsafe_b64encode(chunk).decode("ascii")
    return _id_tag + sid[1:] if _id_tag else sid


def tag_session_ids(tag: str) -> None:
    """Start every session id made from now on with ``tag`` (one base64url character;
    ``geventio-serve --workers``: the worker's, so the parent routes by id)."""
    global _id_tag
    _id_tag = tag


class SessionState(enum.Enum):
    """A session's life: OPENING (built, its handshake or on_open not done yet) -> OPEN ->
    CLOSING (``close()`` ran: nothing more is accepted, queued frames stay readable, the
    worker finishes the jobs queued before it and runs ``on_close``) -> CLOSED (the worker
    ran ``on_closed``). ``Session.closed`` is True from CLOSING on."""

    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class ConnectionSession(Protocol):
    """What a :class:`~geventio.connection.SocketConnection` (and the adapter) use of the
    session carrying it. :class:`~geventio.legacy.LegacySession` (0.6) and
    :class:`~geventio.sockets.SocketIOSession` (Socket.IO over Engine.IO) provide it."""

    id: str
    protocol: str
    transport: str
    request: "Request"
    context: "Context"

    @property
    def router(self) -> Any:
        """The Router (opaque below it)."""

    @property
    def closed(self) -> bool:
        """The session ended."""

    def close(self, reason: str = ...) -> None:
        """End the session and every connection it carries."""

    def connection_id(self, namespace: str) -> Optional[str]:
        """The id of a new connection to ``namespace`` (None: the session id)."""

    def send_message(self, conn: "SocketConnection", message: Any) -> None:
        """Queue ``conn.send(message)``."""

    def send_event(self, conn: "SocketConnection", event: str, args: Tuple[Any, ...],
                   callback: Optional[Callable[..., Any]] = None) -> None:
        """Queue ``conn.emit(event, *args, callback=callback)``."""

    def push_for(self, conn: "SocketConnection", items: List[Any]) -> None:
        """Queue items already encoded for this session class (a broadcast's)."""

    def close_connection(self, conn: "SocketConnection") -> None:
        """End ``conn`` from the server side."""

    def check_acks_supported(self) -> None:
        """Raise NotSupported when this generation cannot acknowledge."""

    @staticmethod
    def encode_packets(packets: Sequence["Packet"]) -> List[Any]:
        """Socket.IO EVENT packets (a broadcast) as this class's outbound items."""

    @property
    def pending(self) -> int:
        """How many frames wait for the transport (a volatile broadcast skips a session
        with any)."""


class Session:
    """Transport-agnostic state of one client connection."""

    #: 'socket.io-0.6', 'engine.io-3' or 'engine.io-4' (set by subclasses).
    protocol = ""

    #: True for a generation with no liveness check of its own: the router's registry
    #: closes such a session ``session_expiry`` seconds after its last request ended.
    expires_when_detached = False

    # Slots: a session lives as long as its client, and an instance dict of this many
    # attributes is not shared between instances. ``__dict__`` keeps any other attribute
    # (a subclass's, a transport's) possible.
    __slots__ = ("id", "context", "settings", "request", "transport", "created", "closed",
                 "close_reason", "_outbox", "_outbox_bytes", "_out_ready", "_inbox", "_worker",
                 "_active", "_greenlets", "_state", "on_push", "__dict__", "__weakref__")

    def __init__(self, context: "Context", request: "Request", transport: str) -> None:
        self.id = new_session_id()
        #: the router's services: settings, registry, adapter, handler classes
        self.context = context
        self.settings = context.settings
        self.request = request
        #: the transport currently carrying the session ('xhr-polling', 'websocket', ...).
        self.transport = transport
        self.created = time.monotonic()
        self._state = SessionState.OPENING
        #: True from CLOSING on (kept as an attribute, set only with the state: every
        #: push and take reads it)
        self.closed = False
        self.close_reason: Optional[str] = None

        # A list, not a deque: an empty deque costs a 64-slot block (~0.7 KiB) per session,
        # and taking everything hands the list over instead of copying it.
        self._outbox: List[Item] = []
        self._outbox_bytes = 0
        self._out_ready = Event()
        self._inbox: Optional[Queue] = None
        self._worker = None  # a raw greenlet while the worker runs
        self._active = False  # the worker took a job since its idle timer last ticked
        self._greenlets: Set[gevent.Greenlet] = set()
        #: Called (with no arguments) after frames are queued and once when the session
        #: closes, by a transport that writes without a waiting greenlet (WebSocket). It must
        #: not block and not raise; it drains the outbox with :meth:`take_nowait`.
        self.on_push: Optional[Callable[[], None]] = None

    @property
    def router(self) -> Any:
        """The Router this session belongs to."""
        return self.context.owner

    @property
    def state(self) -> SessionState:
        """Where the session is in its life (see :class:`SessionState`)."""
        return self._state

    def opened(self) -> None:
        """OPENING -> OPEN: the handshake is queued and the client accepted."""
        if self._state is SessionState.OPENING:
            self._state = SessionState.OPEN
            monitor = self.context.monitor
            if monitor is not None:
                monitor.session_opened(self)

    def __repr__(self) -> str:
        return "<%s %s %s%s>" % (type(self).__name__, self.id, self.transport,
                                 " closed" if self.closed else "")

    # -- outbound ----------------------------------------------------------------------

    def push(self, items: Sequence[Item]) -> bool:
        """Queue encoded frames for the client. False (and nothing queued) once closed.

        Exceeding ``max_queued_messages`` or ``max_queued_bytes`` closes the session: the
        client is not reading fast enough and buffering more would only grow memory.
        """
        if self.closed or not items:
            return not self.closed
        size = 0
        for item in items:
            size += len(item)
        if (len(self._outbox) + len(items) > self.settings.max_queued_messages
                or self._outbox_bytes + size > self.settings.max_queued_bytes):
            log.warning("session %s closed: outbound queue bound hit (%d messages, %d bytes "
                        "queued; limits %d / %d); the client is not reading",
                        self.id, len(self._outbox), self._outbox_bytes,
                        self.settings.max_queued_messages, self.settings.max_queued_bytes)
            self.close("outbound queue full")
            return False
        self._outbox.extend(items)
        self._outbox_bytes += size
        monitor = self.context.monitor
        if monitor is not None:
            monitor.traffic(False, len(items), size)
        self._out_ready.set()
        if self.on_push is not None:
            self.on_push()
        return True

    def push_front(self, items: Sequence[Item]) -> None:
        """Put frames a transport took but could not deliver back at the head, in order."""
        if items:
            self._outbox[0:0] = items
            self._outbox_bytes += sum(len(i) for i in items)
            self._out_ready.set()
            if self.on_push is not None:
                self.on_push()

    def take(self, timeout: Optional[float] = None) -> Optional[List[Item]]:
        """Everything queued, waiting up to ``timeout`` for something to arrive.

        Returns a possibly empty list; ``None`` once the session is closed and drained.
        """
        if not self._outbox:
            if self.closed:
                return None
            self._out_ready.clear()
            self._out_ready.wait(timeout)
        items = self._outbox
        if not items:
            return None if self.closed else []
        self._outbox = []
        self._outbox_bytes = 0
        return items

    def take_nowait(self) -> Optional[List[Item]]:
        """Everything queued, without waiting: a possibly empty list, ``None`` once the
        session is closed and drained."""
        items = self._outbox
        if not items:
            return None if self.closed else []
        self._outbox = []
        self._outbox_bytes = 0
        return items

    def interrupt(self) -> None:
        """Wake a transport waiting in :meth:`take` (it returns what is queued, maybe [])."""
        self._out_ready.set()

    @property
    def pending(self) -> int:
        """How many frames wait in the outbox."""
        return len(self._outbox)

    # -- inbound: the worker -----------------------------------------------------------

    def run(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Run ``fn(*args)`` in this session's worker, after every job queued before it.

        Blocks the caller while ``max_pending_messages`` jobs are already waiting (so a
        client sending faster than its handler runs is slowed down, not buffered without
        bound). Returns False if the session closed first.
        """
        if self.closed:
            return False
        if self._inbox is None:
            self._inbox = Queue(self.settings.max_pending_messages)
        if self._worker is None:
            self._worker = gevent.spawn_raw(self._work)
        job = (fn, args)
        while not self.closed:
            try:
                self._inbox.put(job, timeout=1.0)
                return True
            except Full:
                if gevent.getcurrent() is gevent.get_hub():
                    # The event loop cannot wait for room (gevent refuses at once): say so
                    # rather than retry forever. Callers there check can_run_now() first.
                    raise RuntimeError("Session.run() would wait for room in the inbox "
                                       "inside the event loop") from None
                continue
        return False

    def can_run_now(self) -> bool:
        """Whether :meth:`run` would return at once (not wait for room in the inbox)."""
        inbox = self._inbox
        return self.closed or inbox is None or not inbox.full()

    def _work(self) -> None:
        inbox = self._inbox
        assert inbox is not None
        # One repeating timer for the worker's life, not one per job: a tick that finds no
        # job taken since the previous tick (and nothing queued) tells the worker to end.
        timer = gevent.get_hub().loop.timer(WORKER_IDLE, WORKER_IDLE)
        timer.start(self._idle_tick, inbox)
        try:
            while not (self.closed and inbox.empty()):
                job = inbox.get()
                if job is _WAKE:
                    continue
                if job is _IDLE:
                    if self.closed or not inbox.empty():
                        continue
                    # The marker may have filled the inbox (max_pending_messages=1): a job
                    # waiting for room is moved in by a callback after this get() returned.
                    # Let it land before deciding the inbox is empty for good.
                    gevent.sleep(0)
                    if self.closed or not inbox.empty():
                        continue
                    # Idle: let the greenlet (and the queue) go; the next job starts a new
                    # one. An idle connection then costs no worker at all.
                    self._worker = None
                    self._inbox = None
                    return
                self._active = True
                fn, args = job
                try:
                    fn(*args)
                except Exception:
                    log.exception("session %s: handler %s raised", self.id,
                                  getattr(fn, "__qualname__", fn))
        finally:
            timer.stop()
            timer.close()
        try:
            self.on_closed()
        except Exception:
            log.exception("session %s: on_close raised", self.id)
        finally:
            self._state = SessionState.CLOSED

    def _idle_tick(self, inbox: Queue) -> None:
        # Runs in the hub, every WORKER_IDLE seconds while the worker lives.
        if self._active:
            self._active = False
        elif not self.closed and inbox.empty():
            inbox.put_nowait(_IDLE)

    def spawn(self, fn: Callable[..., Any], *args: Any) -> gevent.Greenlet:
        """Start a helper greenlet that is killed when the session closes."""
        g = gevent.spawn(fn, *args)
        self._greenlets.add(g)
        g.link(self._greenlets.discard)
        return g

    # -- lifecycle ---------------------------------------------------------------------

    def close(self, reason: str = "server close") -> None:
        """End the session (idempotent). Queued frames stay readable for a final flush."""
        if self.closed:
            return
        was_open = self._state is SessionState.OPEN
        self._state = SessionState.CLOSING
        self.closed = True
        self.close_reason = reason
        monitor = self.context.monitor
        if monitor is not None and was_open:
            monitor.session_closed(self, reason)
        log.debug("session %s closing: %s", self.id, reason)
        self.context.sessions.forget(self)
        self._out_ready.set()
        if self.on_push is not None:
            try:
                self.on_push()
            except Exception:  # pragma: no cover - the hook must not raise
                log.exception("session %s: on_push raised while closing", self.id)
        current = gevent.getcurrent()
        for g in list(self._greenlets):
            if g is not current:
                g.kill(block=False)
        self._greenlets.clear()
        if self._worker is None:
            self._inbox = self._inbox or Queue(1)
            self._worker = gevent.spawn_raw(self._work)
        if self._inbox is not None:
            try:
                self._inbox.put_nowait(_WAKE)
            except Full:
                pass  # the worker is busy and will see it is closing when it drains

    def on_closed(self) -> None:
        """Called once in the worker after the last job: subclasses fire on_close here."""

    # -- polling bookkeeping -----------------------------------------------------------

    def attach(self) -> None:
        """A transport request is now serving this session: it cannot expire."""
        self.context.sessions.attach(self)

    def detach(self) -> None:
        """The serving request ended: expiry starts counting now."""
        self.context.sessions.detach(self)
