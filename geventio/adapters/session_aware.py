"""The in-memory adapter with connection state recovery (node's SessionAwareAdapter).

Used instead of :class:`InMemoryAdapter` when the ``connection_state_recovery`` setting is
on. Every broadcast EVENT without an ack that is not volatile gets an offset, appended as
its last argument for the clients that recover (Socket.IO v5; 0.6 and v4 clients get the
packet as before), and is kept with its addressing for the recovery window. A
disconnected connection's state is kept as long, so that a client coming back to this
process gets its id, rooms, ``data`` and the packets it missed.

Bounded: at most ``max_packets`` packets and ``max_sessions`` sessions are kept (the
oldest go first, with a log line); both also expire after the window.
"""
from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, deque
from typing import Any, Deque, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..protocol.socketio import EVENT, Packet
from .base import BroadcastOptions, RestoredSession, SavedSession, should_include
from .memory import InMemoryAdapter

log = logging.getLogger(__name__)


class _Kept(NamedTuple):
    seq: int
    at: float
    namespace: str
    rooms: Optional[Sequence[str]]
    except_rooms: Sequence[str]
    data: List[Any]


class SessionAwareAdapter(InMemoryAdapter):
    """InMemoryAdapter that keeps packets (with offsets) and sessions for recovery."""

    __slots__ = ("window", "max_packets", "max_sessions", "_packets", "_sessions", "_seq",
                 "_prefix")

    recovers = True

    def __init__(self, window: float, max_packets: int = 10_000,
                 max_sessions: int = 10_000) -> None:
        super().__init__()
        self.window = float(window)
        self.max_packets = int(max_packets)
        self.max_sessions = int(max_sessions)
        self._packets: Deque[_Kept] = deque()
        #: pid -> (expiry, namespace, state), oldest first
        self._sessions: "OrderedDict[str, Tuple[float, str, SavedSession]]" = OrderedDict()
        self._seq = 0
        # offsets of this process only: another process's never match
        self._prefix = os.urandom(4).hex() + "-"

    def __repr__(self) -> str:
        return "<SessionAwareAdapter %d packets, %d sessions kept>" % (len(self._packets),
                                                                      len(self._sessions))

    @property
    def kept(self) -> Tuple[int, int]:
        """(packets, sessions) kept now."""
        return len(self._packets), len(self._sessions)

    # -- broadcast -----------------------------------------------------------------------

    def broadcast(self, namespace: str, packets: Sequence[Packet],
                  opts: BroadcastOptions) -> int:
        if opts.volatile or any(p.type != EVENT or p.id is not None for p in packets):
            return super().broadcast(namespace, packets, opts)
        tagged = [Packet(EVENT, namespace, [*p.data, self._keep(namespace, p.data, opts)])
                  for p in packets]
        targets = self.select(namespace, opts)
        encoded: Dict[Tuple[type, bool], list] = {}
        for conn in targets:
            session = conn.session
            key = (type(session), conn.private_id is not None)
            items = encoded.get(key)
            if items is None:
                items = encoded[key] = key[0].encode_packets(tagged if key[1] else packets)
            session.push_for(conn, items)
        return len(targets)

    def _keep(self, namespace: str, data: List[Any], opts: BroadcastOptions) -> str:
        now = time.monotonic()
        packets = self._packets
        horizon = now - self.window
        while packets and (packets[0].at < horizon or len(packets) >= self.max_packets):
            packets.popleft()
        self._seq += 1
        offset = self._prefix + str(self._seq)
        packets.append(_Kept(self._seq, now, namespace, opts.rooms, opts.all_except_rooms(),
                             [*data, offset]))
        return offset

    # -- sessions ------------------------------------------------------------------------

    def persist_session(self, namespace: str, session: SavedSession) -> None:
        now = time.monotonic()
        sessions = self._sessions
        while sessions:
            pid, (expiry, _ns, _state) = next(iter(sessions.items()))
            if expiry > now and len(sessions) < self.max_sessions:
                break
            del sessions[pid]
            if expiry > now:
                log.warning("recovery: %d sessions kept (max_sessions); dropped the oldest",
                            self.max_sessions)
        sessions[session.pid] = (now + self.window, namespace, session)

    def restore_session(self, namespace: str, pid: str,
                        offset: str) -> Optional[RestoredSession]:
        kept = self._sessions.pop(pid, None)
        if kept is None:
            return None
        expiry, kept_namespace, session = kept
        if expiry <= time.monotonic() or kept_namespace != namespace:
            return None
        start = self._position(offset)
        if start is None:
            log.info("recovery: offset %r of session %s is no longer kept; a new connection",
                     offset, session.sid)
            return None
        missed = [p.data for p in list(self._packets)[start + 1:]
                  if p.namespace == namespace
                  and should_include(session.rooms, p.rooms, p.except_rooms)]
        return RestoredSession(session, missed)

    def _position(self, offset: str) -> Optional[int]:
        """Where the packet of ``offset`` is in the kept ones (None: not kept)."""
        if not offset.startswith(self._prefix):
            return None
        try:
            seq = int(offset[len(self._prefix):])
        except ValueError:
            return None
        if not self._packets:
            return None
        index = seq - self._packets[0].seq
        return index if 0 <= index < len(self._packets) else None
