"""Room membership, indexed both ways: (namespace, room) -> connections, connection -> rooms."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Set, Tuple, Union

if TYPE_CHECKING:  # pragma: no cover
    from .connection import SocketConnection

Key = Tuple[str, str]


class Rooms:
    """The rooms of one router. Lookups never scan connections that are not addressed."""

    def __init__(self) -> None:
        self._members: Dict[Key, Set["SocketConnection"]] = {}
        self._namespaces: Dict[str, Set["SocketConnection"]] = {}

    def add(self, conn: "SocketConnection") -> None:
        """Register a newly opened connection (and its own session_id room)."""
        self._namespaces.setdefault(conn.namespace, set()).add(conn)
        self.join(conn, conn.session_id)

    def remove(self, conn: "SocketConnection") -> None:
        """Forget a closed connection everywhere."""
        for room in list(conn._rooms):
            self.leave(conn, room)
        members = self._namespaces.get(conn.namespace)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._namespaces[conn.namespace]

    def join(self, conn: "SocketConnection", room: str) -> None:
        self._members.setdefault((conn.namespace, room), set()).add(conn)
        conn._rooms.add(room)

    def leave(self, conn: "SocketConnection", room: str) -> None:
        key = (conn.namespace, room)
        members = self._members.get(key)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._members[key]
        conn._rooms.discard(room)

    def select(self, namespace: str, to: Union[None, str, Iterable[str]] = None,
               skip: Union[None, str, "SocketConnection", Iterable] = None
               ) -> List["SocketConnection"]:
        """Live connections of ``namespace`` in any room of ``to`` (all when None), minus
        ``skip`` (connections or session ids)."""
        if to is None:
            chosen: Set["SocketConnection"] = set(self._namespaces.get(namespace, ()))
        else:
            rooms = [to] if isinstance(to, str) else list(to)
            if len(rooms) == 1:
                chosen = set(self._members.get((namespace, rooms[0]), ()))
            else:
                chosen = set()
                for room in rooms:
                    chosen.update(self._members.get((namespace, room), ()))
        if skip is not None:
            skipped = _as_list(skip)
            for item in skipped:
                if isinstance(item, str):
                    chosen.difference_update(self._members.get((namespace, item), ()))
                else:
                    chosen.discard(item)
        return [c for c in chosen if not c.is_closed]

    def count(self, namespace: Optional[str] = None) -> int:
        if namespace is not None:
            return len(self._namespaces.get(namespace, ()))
        return sum(len(v) for v in self._namespaces.values())


def _as_list(value) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)
