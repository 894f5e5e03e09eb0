"""The session registry of one router: id -> live session, ``max_sessions``, expiry.

Transports create and find sessions here; a session forgets itself here when it closes.
The registry is the only owner of the id table, so nothing else reaches into it.

Expiry: a session whose generation has no liveness check of its own
(``Session.expires_when_detached``: socket.io 0.6, whose polling clients send no
heartbeats the server could miss) starts counting when its last transport request ends
(:meth:`SessionRegistry.detach`) and is closed by the sweeper greenlet after
``session_expiry`` seconds without a request. Engine.IO sessions are not swept: their
heartbeat timers close a client that went away (``ping_interval`` + ``ping_timeout``). The
sweeper runs while the registry holds sessions that expire, and ends when it holds none.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, TypeVar

import gevent

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session
    from .settings import Settings

log = logging.getLogger(__name__)

S = TypeVar("S", bound="Session")


class TooManySessions(Exception):
    """A new session was refused: the registry holds ``max_sessions`` already.

    Each transport turns it into its own answer: 503 for HTTP requests (0.6 and Engine.IO
    polling), for an Engine.IO WebSocket handshake (its session is made before the 101)
    and for a 0.6 WebSocket handshake refused before the upgrade; close code 1008 for a
    0.6 WebSocket that was upgraded before the limit was reached.
    """

    def __init__(self, limit: int) -> None:
        super().__init__("too many sessions (max_sessions=%d)" % limit)
        self.limit = limit


class SessionRegistry:
    """The live sessions of one router, by id."""

    __slots__ = ("settings", "_by_id", "_detached", "_sweeper")

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings
        self._by_id: Dict[str, "Session"] = {}
        #: id -> monotonic time its last request ended (only sessions that expire)
        self._detached: Dict[str, float] = {}
        self._sweeper: Optional[gevent.Greenlet] = None

    def __repr__(self) -> str:
        return "<SessionRegistry %d sessions>" % len(self._by_id)

    # -- creating and finding ------------------------------------------------------------

    def check_room(self) -> None:
        """Raise :class:`TooManySessions` if a new session would be refused now (for a
        transport that must answer before it can build the session, e.g. a WebSocket)."""
        limit = self.settings.max_sessions
        if len(self._by_id) >= limit:
            log.warning("refused a new session: max_sessions (%d) reached", limit)
            raise TooManySessions(limit)

    def create(self, factory: Callable[..., S], *args: Any) -> S:
        """Build a session with ``factory(*args)`` and register it under its id.

        Raises :class:`TooManySessions` (nothing built) at ``max_sessions``."""
        self.check_room()
        session = factory(*args)
        self._by_id[session.id] = session
        if session.expires_when_detached:
            self._ensure_sweeper()
        return session

    def get(self, sid: Optional[str]) -> Optional["Session"]:
        """The live session with this id, or None."""
        return self._by_id.get(sid) if sid else None

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def count(self) -> int:
        """How many sessions are live."""
        return len(self._by_id)

    def __contains__(self, sid: object) -> bool:
        return sid in self._by_id

    def __iter__(self) -> Iterator["Session"]:
        """The live sessions (a snapshot: closing one while iterating is fine)."""
        return iter(list(self._by_id.values()))

    def all(self) -> List["Session"]:
        """The live sessions, as a list."""
        return list(self._by_id.values())

    # -- expiry bookkeeping --------------------------------------------------------------

    def attach(self, session: "Session") -> None:
        """A transport request serves ``session`` now: it cannot expire."""
        self._detached.pop(session.id, None)

    def detach(self, session: "Session") -> None:
        """The request serving ``session`` ended: its expiry starts counting (for the
        sessions that expire, see the module docstring)."""
        if session.expires_when_detached and not session.closed:
            self._detached[session.id] = time.monotonic()

    def forget(self, session: "Session") -> None:
        """Drop a closed session (called by the session itself, once)."""
        if self._by_id.get(session.id) is session:
            del self._by_id[session.id]
        self._detached.pop(session.id, None)

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.dead:
            self._sweeper = gevent.spawn(self._sweep)

    def _sweep(self) -> None:
        """Close sessions no transport request has served for ``session_expiry``."""
        settings = self.settings
        while any(s.expires_when_detached for s in self._by_id.values()):
            gevent.sleep(settings.session_check_interval)
            self.expire(time.monotonic() - settings.session_expiry)
        self._sweeper = None

    def expire(self, deadline: float) -> int:
        """Close every session detached since before ``deadline`` (monotonic); returns
        how many. The sweeper calls it every ``session_check_interval``."""
        expired = 0
        for sid, since in list(self._detached.items()):
            if since <= deadline:
                session = self._by_id.get(sid)
                self._detached.pop(sid, None)
                if session is not None:
                    log.info("session %s expired (no request for %.1f s)", sid,
                             self.settings.session_expiry)
                    session.close("expired")
                    expired += 1
        return expired

    @property
    def sweeping(self) -> bool:
        """The expiry sweeper greenlet is running."""
        return self._sweeper is not None and not self._sweeper.dead

    # -- shutting down -------------------------------------------------------------------

    def close_all(self, reason: str = "server shutdown") -> None:
        """Close every session (their on_close handlers run) and stop the sweeper."""
        for session in list(self._by_id.values()):
            session.close(reason)
        if self._sweeper is not None:
            self._sweeper.kill(block=False)
            self._sweeper = None
