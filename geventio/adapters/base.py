"""The adapter interface: room membership and broadcast for one router.

An adapter keeps which connection is in which room of which namespace, and delivers a
broadcast (one or more Socket.IO packets) to the connections chosen by rooms and
exceptions. It is the seam a cluster adapter (Redis, AMQP; node's
``@socket.io/redis-adapter`` on the wire) plugs into: such an adapter keeps the local index
of the in-memory one and also publishes what it broadcasts, so that its local methods stay
these and its cluster-wide ones (``fetch_connections``, ``add_rooms``, ``del_rooms``,
``disconnect_connections``, ``all_rooms``, ``server_count``) reach the other servers.
Here they act on this process only.

Packets are protocol-neutral Socket.IO EVENT packets (:class:`geventio.protocol.socketio.
Packet`): data ``[event, *args]``, a plain message ``m`` as ``["message", m]``. Each session
class encodes them for its generation (``encode_packets``), once per broadcast, and every
recipient of that class is pushed the same items.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import (TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterable, List,
                    NamedTuple, Optional, Sequence, Set, Tuple, Union)

from ..acks import ForwardAck
from ..exceptions import NotSupported
from ..protocol.socketio import Packet

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import SocketConnection
    from ..context import Context
    from ..monitor import Monitor

#: rooms to address: None (the whole namespace), one room, or several
Target = Union[None, str, Iterable[str]]


#: the disconnect reasons after which a connection's state is kept for recovery (node's
#: RECOVERABLE_DISCONNECT_REASONS in geventio's words: the transport went away, the
#: heartbeat or polling deadline passed, the client closed only the Engine.IO session, the
#: server shut down)
RECOVERABLE_REASONS = frozenset(("transport close", "transport error", "ping timeout",
                                 "expired", "client close", "server shutdown"))


class SavedSession(NamedTuple):
    """A disconnected connection's state, kept for connection state recovery."""

    sid: str
    pid: str
    rooms: List[str]
    data: Dict[str, Any]


class RestoredSession(NamedTuple):
    """What a recovery gives back: the saved state and the missed packets' data
    (``[event, *args, offset]`` each), oldest first."""

    session: SavedSession
    missed: List[List[Any]]


def should_include(rooms: Iterable[str], to: Optional[Sequence[str]],
                   except_rooms: Sequence[str]) -> bool:
    """Whether a broadcast to ``to`` (None: everyone) except ``except_rooms`` reached a
    connection in ``rooms`` (node's ``shouldIncludePacket``)."""
    rooms = set(rooms)
    if to and rooms.isdisjoint(to):
        return False
    return rooms.isdisjoint(except_rooms)


class BroadcastOptions:
    """Whom a broadcast reaches: the connections in any of ``rooms`` (None: the whole
    namespace) minus those in any room of ``except_rooms`` (a session id names the room
    every connection is in) and minus the connection objects ``except_connections``.

    ``local``: deliver in this process only (a cluster adapter does not publish it).
    ``volatile``: skip a connection whose transport is busy (frames already waiting)."""

    __slots__ = ("rooms", "except_rooms", "except_connections", "local", "volatile")

    def __init__(self, rooms: Optional[Sequence[str]] = None,
                 except_rooms: Sequence[str] = (),
                 except_connections: Sequence[Any] = (),
                 local: bool = False, volatile: bool = False) -> None:
        self.rooms = rooms
        self.except_rooms = except_rooms
        self.except_connections = except_connections
        self.local = local
        self.volatile = volatile

    @classmethod
    def select(cls, to: Any = None, skip: Any = None, local: bool = False,
               volatile: bool = False) -> "BroadcastOptions":
        """Options from the router's ``to`` / ``skip`` arguments: each is a room name, a
        session id, a connection (local or remote: its ``session_id`` room), or an iterable
        of them."""
        if to is None:
            rooms: Optional[Tuple[str, ...]] = None
        elif isinstance(to, str):
            rooms = (to,)
        else:
            items = (to,) if not hasattr(to, "__iter__") else to
            rooms = tuple(r if isinstance(r, str) else r.session_id for r in items)
        if skip is None:
            return cls(rooms, local=local, volatile=volatile)
        names: List[str] = []
        conns: List[Any] = []
        items = (skip,) if isinstance(skip, (str, bytes)) or not hasattr(skip, "__iter__") \
            else skip
        for item in items:
            if isinstance(item, str):
                names.append(item)
            else:
                conns.append(item)
        return cls(rooms, tuple(names), tuple(conns), local, volatile)

    def all_except_rooms(self) -> List[str]:
        """``except_rooms`` plus the session id of every skipped connection (what another
        process can match)."""
        names = list(self.except_rooms)
        names.extend(c.session_id for c in self.except_connections)
        return names

    def __repr__(self) -> str:
        return "<BroadcastOptions rooms=%r except=%r+%d local=%s volatile=%s>" % (
            self.rooms, self.except_rooms, len(self.except_connections), self.local,
            self.volatile)


class Adapter(ABC):
    """Rooms and broadcast for the connections of one router (every namespace)."""

    __slots__ = ()

    # -- local membership (called by the sessions and by SocketConnection.join/leave) -----

    @abstractmethod
    def add(self, conn: "SocketConnection") -> None:
        """Register an accepted connection (and its own ``session_id`` room)."""

    @abstractmethod
    def remove(self, conn: "SocketConnection") -> None:
        """Forget a closed connection everywhere (idempotent)."""

    @abstractmethod
    def join(self, conn: "SocketConnection", room: str) -> None:
        """Put ``conn`` in ``room`` of its namespace."""

    @abstractmethod
    def leave(self, conn: "SocketConnection", room: str) -> None:
        """Take ``conn`` out of ``room`` of its namespace (no error if it is not in it)."""

    @abstractmethod
    def rooms_of(self, conn: "SocketConnection") -> FrozenSet[str]:
        """The rooms ``conn`` is in."""

    @abstractmethod
    def select(self, namespace: str, opts: BroadcastOptions) -> List["SocketConnection"]:
        """The live local connections of ``namespace`` that ``opts`` addresses."""

    @abstractmethod
    def rooms(self, namespace: str) -> Set[str]:
        """The local rooms of ``namespace`` that have members."""

    @abstractmethod
    def broadcast(self, namespace: str, packets: Sequence[Packet],
                  opts: BroadcastOptions) -> int:
        """Deliver ``packets`` (EVENTs of ``namespace``) to the connections ``opts``
        addresses, encoded once per session class. Returns how many local connections
        they were queued for."""

    # -- notifications (a sharded cluster adapter subscribes to a room's channel here) ----

    def on_room_created(self, namespace: str, room: str) -> None:
        """A room of ``namespace`` got its first member."""
        return None

    def on_room_deleted(self, namespace: str, room: str) -> None:
        """A room of ``namespace`` lost its last member."""
        return None

    def on_namespace_created(self, namespace: str) -> None:
        """``namespace`` got its first connection in this process (a cluster adapter
        starts listening for a namespace created from a pattern)."""
        return None

    def on_namespace_deleted(self, namespace: str) -> None:
        """``namespace`` lost its last connection in this process."""
        return None

    # -- cluster-wide operations: this process's part (a cluster adapter adds the rest) ---

    def broadcast_with_ack(self, namespace: str, packet: Packet, opts: BroadcastOptions,
                           timeout: float, client_count: Callable[[int], None],
                           ack: Callable[[Any], None]) -> None:
        """Emit ``packet`` to the connections ``opts`` addresses asking each to acknowledge:
        ``client_count(n)`` once with how many will (0.6 clients cannot: they get the event
        as a message and are not counted), then ``ack(value)`` per acknowledgement (see
        :func:`geventio.acks.ack_value`), called where it is read. ``timeout`` (seconds)
        is the whole request's: a cluster adapter may first block, for part of it, until it
        receives a namespace created from a pattern (the answers come there), and then
        keeps the callbacks for what is left; the caller counts its own wait from before
        this call (``Router.call`` does)."""
        event, args = packet.data[0], tuple(packet.data[1:])
        counted = 0
        encoded: dict = {}
        for conn in self.select(namespace, opts):
            session = conn.session
            try:
                session.check_acks_supported()
            except NotSupported:
                cls = type(session)
                items = encoded.get(cls)
                if items is None:
                    items = encoded[cls] = cls.encode_packets((packet,))
                session.push_for(conn, items)
                continue
            counted += 1
            session.send_event(conn, event, args, ForwardAck(ack))
        client_count(counted)

    def fetch_connections(self, namespace: str, opts: BroadcastOptions,
                          timeout: Optional[float] = None) -> List[Any]:
        """The connections ``opts`` addresses (node's ``fetchSockets``)."""
        return list(self.select(namespace, opts))

    def add_rooms(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the connections ``opts`` addresses join ``rooms`` (node's ``addSockets``)."""
        rooms = list(rooms)
        for conn in self.select(namespace, opts):
            for room in rooms:
                self.join(conn, room)

    def del_rooms(self, namespace: str, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """Make the connections ``opts`` addresses leave ``rooms`` (node's ``delSockets``)."""
        rooms = list(rooms)
        for conn in self.select(namespace, opts):
            for room in rooms:
                self.leave(conn, room)

    def disconnect_connections(self, namespace: str, opts: BroadcastOptions,
                               close: bool = False) -> None:
        """Disconnect the connections ``opts`` addresses; ``close`` also ends their whole
        session (every namespace and the transport)."""
        for conn in self.select(namespace, opts):
            if close:
                conn.session.close("closed by the server")
            else:
                conn.close()

    def server_side_emit(self, namespace: str, data: List[Any],
                         callback: Optional[Callable[[List[Any]], None]] = None,
                         timeout: Optional[float] = None) -> None:
        """Send the event ``data`` (``[event, *args]``) to the other servers; with
        ``callback``, call it with their answers (here: there are none)."""
        if callback is not None:
            callback([])

    def all_rooms(self, namespace: str, timeout: Optional[float] = None) -> Set[str]:
        """Every room of ``namespace`` (in every server of the cluster)."""
        return self.rooms(namespace)

    def server_count(self, namespace: str = "/") -> int:
        """How many servers share these rooms."""
        return 1

    # -- connection state recovery (an adapter that keeps packets overrides these) --------

    #: whether this adapter tags broadcasts with offsets and keeps sessions for recovery
    recovers = False

    def persist_session(self, namespace: str, session: SavedSession) -> None:
        """Keep a disconnected connection's state for the recovery window (must not
        block: it may be called in the event loop)."""
        return None

    def restore_session(self, namespace: str, pid: str,
                        offset: str) -> Optional[RestoredSession]:
        """Take back (once) the state kept under ``pid`` and the packets of ``namespace``
        after ``offset`` that it would have received; None when either is unknown. May
        block (a cluster adapter asks its server): call it from a worker greenlet."""
        return None

    # -- observing and late namespaces (Router.instrument) ---------------------------------

    def set_monitor(self, monitor: Optional["Monitor"]) -> None:
        """Report room joins and leaves to ``monitor`` (None: stop); the in-memory index
        does. Called by ``Router.instrument`` in development mode."""
        return None

    def add_namespace(self, namespace: str) -> None:
        """``namespace`` was added to the router after :meth:`start` (the Admin UI's): a
        cluster adapter that subscribes per namespace subscribes to it too, for good and
        without interrupting its other subscriptions. Called before the namespace serves
        anyone."""
        return None

    def local_namespaces(self) -> List[str]:
        """The namespaces with connections of this process now (also those created from
        a pattern); the in-memory index knows them."""
        return []

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, context: Optional["Context"] = None) -> None:
        """Called once by the router that uses this adapter, before it serves, with what
        it serves (namespaces, server-side event handlers)."""
        return None

    def close(self) -> None:
        """Called once by the router's ``close()``, after its sessions are closed."""
        return None
