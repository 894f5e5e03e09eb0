"""RemoteConnection: a connection of another server, as ``Router.fetch_connections`` lists it.

Its methods act wherever the client lives, through the adapter (a broadcast or a request
addressed to the connection's own ``session_id`` room), as node's ``RemoteSocket`` does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable

from ..protocol.socketio import EVENT, Packet
from .base import BroadcastOptions

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import SocketConnection
    from .base import Adapter


def describe(conn: "SocketConnection") -> Dict[str, Any]:
    """A local connection as a fetch response lists it (node's fetchSockets entry)."""
    return {"id": conn.session_id, "handshake": conn.handshake, "rooms": sorted(conn.rooms),
            "data": conn.data}


class RemoteConnection:
    """A connection served by another process (a geventio or a node server)."""

    __slots__ = ("adapter", "session_id", "namespace", "rooms", "data", "handshake")

    def __init__(self, adapter: "Adapter", namespace: str, session_id: str,
                 rooms: Iterable[str] = (), data: Any = None,
                 handshake: Any = None) -> None:
        self.adapter = adapter
        self.namespace = namespace
        self.session_id = session_id
        #: its rooms when it was fetched (always including its ``session_id``)
        self.rooms: FrozenSet[str] = frozenset(rooms)
        #: its ``data`` when it was fetched
        self.data: Dict[str, Any] = data if isinstance(data, dict) else {}
        #: node's handshake object (headers, address, query, ...)
        self.handshake: Dict[str, Any] = handshake if isinstance(handshake, dict) else {}

    @classmethod
    def from_wire(cls, adapter: "Adapter", namespace: str, entry: Any) -> "RemoteConnection":
        """One item of a fetch response: ``{"id", "handshake", "rooms", "data"}``."""
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError("a fetched socket has an id")
        return cls(adapter, namespace, entry["id"], entry.get("rooms") or (),
                   entry.get("data"), entry.get("handshake"))

    def _opts(self) -> BroadcastOptions:
        return BroadcastOptions((self.session_id,))

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to this client (no acknowledgement across servers)."""
        self.adapter.broadcast(self.namespace, (Packet(EVENT, self.namespace, [event, *args]),),
                               self._opts())

    def send(self, message: Any) -> None:
        """Send a message (a list: several messages) to this client."""
        items = message if isinstance(message, (list, tuple)) else (message,)
        packets = [Packet(EVENT, self.namespace, ["message", m]) for m in items]
        self.adapter.broadcast(self.namespace, packets, self._opts())

    def join(self, room: str) -> None:
        """Make this client join ``room`` where it lives."""
        self.adapter.add_rooms(self.namespace, self._opts(), (room,))

    def leave(self, room: str) -> None:
        """Make this client leave ``room`` where it lives."""
        self.adapter.del_rooms(self.namespace, self._opts(), (room,))

    def close(self, close: bool = False) -> None:
        """Disconnect this client from its server (``close``: end its transport too)."""
        self.adapter.disconnect_connections(self.namespace, self._opts(), close)

    disconnect = close

    def __repr__(self) -> str:
        return "<RemoteConnection %s %s>" % (self.session_id, self.namespace)
