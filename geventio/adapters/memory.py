"""The in-memory adapter (the default): rooms of this process, indexed both ways."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from ..protocol.socketio import Packet
from .base import Adapter, BroadcastOptions

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import SocketConnection
    from ..monitor import Monitor

Key = Tuple[str, str]

_NO_ROOMS: FrozenSet[str] = frozenset()


class InMemoryAdapter(Adapter):
    """(namespace, room) -> connections and connection -> rooms. A lookup never scans
    connections it does not address."""

    __slots__ = ("_members", "_namespaces", "_rooms_of", "_monitor")

    def __init__(self) -> None:
        self._monitor: Optional["Monitor"] = None
        self._members: Dict[Key, Set["SocketConnection"]] = {}
        self._namespaces: Dict[str, Set["SocketConnection"]] = {}
        self._rooms_of: Dict["SocketConnection", Set[str]] = {}

    def __repr__(self) -> str:
        return "<InMemoryAdapter %d connections, %d rooms>" % (len(self._rooms_of),
                                                                len(self._members))

    def set_monitor(self, monitor: Optional["Monitor"]) -> None:
        self._monitor = monitor

    def local_namespaces(self) -> List[str]:
        return list(self._namespaces)

    # -- membership ----------------------------------------------------------------------

    def add(self, conn: "SocketConnection") -> None:
        members = self._namespaces.get(conn.namespace)
        if members is None:
            members = self._namespaces[conn.namespace] = set()
            self.on_namespace_created(conn.namespace)
        members.add(conn)
        self.join(conn, conn.session_id)

    def remove(self, conn: "SocketConnection") -> None:
        rooms = self._rooms_of.get(conn)
        if rooms is not None:
            for room in list(rooms):
                self.leave(conn, room)
        members = self._namespaces.get(conn.namespace)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._namespaces[conn.namespace]
                self.on_namespace_deleted(conn.namespace)

    def join(self, conn: "SocketConnection", room: str) -> None:
        key = (conn.namespace, room)
        members = self._members.get(key)
        if members is None:
            members = self._members[key] = set()
            self.on_room_created(conn.namespace, room)
        elif conn in members:
            return
        members.add(conn)
        rooms = self._rooms_of.get(conn)
        if rooms is None:
            rooms = self._rooms_of[conn] = set()
        rooms.add(room)
        if self._monitor is not None:
            self._monitor.room_joined(conn, room)

    def leave(self, conn: "SocketConnection", room: str) -> None:
        key = (conn.namespace, room)
        members = self._members.get(key)
        if members is None or conn not in members:
            return
        members.discard(conn)
        if not members:
            del self._members[key]
            self.on_room_deleted(conn.namespace, room)
        rooms = self._rooms_of.get(conn)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[conn]
        if self._monitor is not None:
            self._monitor.room_left(conn, room)

    def rooms_of(self, conn: "SocketConnection") -> FrozenSet[str]:
        rooms = self._rooms_of.get(conn)
        return frozenset(rooms) if rooms else _NO_ROOMS

    def rooms(self, namespace: str) -> Set[str]:
        return {room for ns, room in self._members if ns == namespace}

    def count(self, namespace: str) -> int:
        """How many connections ``namespace`` has."""
        return len(self._namespaces.get(namespace, ()))

    # -- addressing ----------------------------------------------------------------------

    def select(self, namespace: str, opts: BroadcastOptions) -> List["SocketConnection"]:
        members = self._members
        rooms = opts.rooms
        if rooms is None:
            chosen: Set["SocketConnection"] = set(self._namespaces.get(namespace, ()))
        elif len(rooms) == 1:
            chosen = set(members.get((namespace, rooms[0]), ()))
        else:
            chosen = set()
            for room in rooms:
                chosen.update(members.get((namespace, room), ()))
        for room in opts.except_rooms:
            chosen.difference_update(members.get((namespace, room), ()))
        for conn in opts.except_connections:
            chosen.discard(conn)
        return [c for c in chosen if not c.is_closed]

    def broadcast(self, namespace: str, packets: Sequence[Packet],
                  opts: BroadcastOptions) -> int:
        targets = self.select(namespace, opts)
        if opts.volatile:
            # dropped for a client whose transport is busy (frames already waiting)
            targets = [c for c in targets if not c.session.pending]
        encoded: Dict[type, list] = {}
        for conn in targets:
            session = conn.session
            cls = type(session)
            items = encoded.get(cls)
            if items is None:
                items = encoded[cls] = cls.encode_packets(packets)
            session.push_for(conn, items)
        return len(targets)
