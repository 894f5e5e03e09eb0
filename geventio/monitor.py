"""Monitor: what the sessions and the adapter report to an observer (the Admin UI's).

``Context.monitor`` is None unless ``Router.instrument()`` installed one, the adapter's
unless it did in development mode; the sessions and the adapter test that once per
call, so an uninstrumented router pays one attribute read. A monitor's methods never block
and never raise into the caller: they run where the session or the adapter runs (the
worker, a transport's greenlet or the event loop).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .connection import SocketConnection


class Monitor(Protocol):
    """The observer of one router's connections (node's instrumented namespaces)."""

    def connected(self, conn: "SocketConnection") -> None:
        """``conn`` was accepted (after on_open, its CONNECT answer queued)."""

    def disconnected(self, conn: "SocketConnection", reason: str) -> None:
        """An accepted ``conn`` ended, for ``reason`` (after it left its rooms)."""

    def room_joined(self, conn: "SocketConnection", room: str) -> None:
        """``conn`` entered ``room`` (it was not in it)."""

    def room_left(self, conn: "SocketConnection", room: str) -> None:
        """``conn`` left ``room`` (it was in it)."""

    def event_received(self, conn: "SocketConnection", data: List[Any]) -> None:
        """``conn``'s client sent ``data`` (``[event, *args]``; a 0.6 or plain message
        ``m`` as ``["message", m]``), before its handler runs."""

    def event_sent(self, conn: "SocketConnection", data: List[Any]) -> None:
        """``conn.emit`` / ``conn.send`` queued ``data`` (as above) for the client."""

    def transport_changed(self, session: Any) -> None:
        """An Engine.IO session moved to another transport (its WebSocket upgrade)."""

    def traffic(self, received: bool, packets: int, size: int) -> None:
        """``packets`` were received from (``received``) or queued for a client, ``size``
        long in all (characters of text, bytes of binary)."""

    def session_opened(self, session: Any) -> None:
        """A session (Engine.IO, or 0.6 once on_open accepted) opened (node's
        ``rawConnection``)."""

    def session_closed(self, session: Any, reason: str) -> None:
        """A session that had opened closed, for ``reason`` (node's ``rawDisconnection``
        with its reason as ``subType``)."""


class WatchedDict(Dict[str, Any]):
    """A connection's ``data`` while the Admin UI watches it (node's Proxy on
    ``socket.data``): ``changed()`` is called after every change made through its own
    methods; a dict stored in it is watched too. ``quiet`` entries are stored as they are
    (the admin's own ``_admin``: changing it is not the application's change). Reading
    costs what a dict's does."""

    __slots__ = ("changed",)

    def __init__(self, items: Mapping[str, Any], changed: Callable[[], None],
                 quiet: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        self.changed = changed
        for key, value in items.items():
            dict.__setitem__(self, key, self._watch(value))
        if quiet:
            dict.update(self, quiet)

    def __reduce__(self) -> Tuple[Any, ...]:
        """Copies and pickles are plain dicts (what is watched is this object only)."""
        return (dict, (dict(self),))

    def _watch(self, value: Any) -> Any:
        if isinstance(value, dict) and not isinstance(value, WatchedDict):
            return WatchedDict(value, self.changed)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, self._watch(value))
        self.changed()

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self.changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:
        had = key in self
        value = dict.pop(self, key, *default)
        if had:
            self.changed()
        return value

    def popitem(self) -> Tuple[str, Any]:
        item = dict.popitem(self)
        self.changed()
        return item

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            dict.__setitem__(self, key, self._watch(value))
        self.changed()

    def clear(self) -> None:
        dict.clear(self)
        self.changed()
