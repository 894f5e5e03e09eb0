"""Context: what a router hands to the sessions, connections and transports it serves.

Built once by :class:`geventio.router.Router`; everything below the router gets what it
uses from here (settings, the session registry, the adapter, the handler classes) and
never reaches into the router. The router itself travels as ``owner``, an opaque value
(it is what ``SocketConnection.router`` returns to users); nothing here calls it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, Type

from .protocol.permessage_deflate import DeflateOptions, WebSocketDeflate

if TYPE_CHECKING:  # pragma: no cover
    from .adapters.base import Adapter
    from .connection import SocketConnection
    from .engine import EngineSession
    from .hooks import Middleware, NamespacePattern, Scope
    from .monitor import Monitor
    from .sessions import SessionRegistry
    from .settings import Settings


class Context:
    """The services of one router, passed down to what it serves."""

    __slots__ = ("owner", "settings", "sessions", "adapter", "handler", "namespaces",
                 "engine_session_class", "server_events", "middlewares", "namespace_patterns",
                 "ws_deflate", "monitor")

    def __init__(self, owner: Any, settings: "Settings", sessions: "SessionRegistry",
                 adapter: "Adapter", handler: Type["SocketConnection"],
                 namespaces: Mapping[str, Type["SocketConnection"]],
                 engine_session_class: Type["EngineSession"]) -> None:
        #: the Router (opaque here: returned by ``conn.router``, never called below it)
        self.owner = owner
        self.settings = settings
        #: the live sessions (:class:`geventio.sessions.SessionRegistry`)
        self.sessions = sessions
        #: rooms and broadcast (:class:`geventio.adapters.Adapter`)
        self.adapter = adapter
        #: the SocketConnection class of namespace "/" (0.6 clients get this one)
        self.handler = handler
        #: namespace name -> SocketConnection class
        self.namespaces = namespaces
        #: the session class for Engine.IO clients (``Router.engine_session_class``)
        self.engine_session_class = engine_session_class
        #: (namespace, event) -> the handler of that event from other servers
        #: (``@router.server_event``): called with the event's arguments, returns the answer
        self.server_events: Dict[Tuple[str, str], Callable[..., Any]] = {}
        #: ``Router.use``'s middlewares, in order: (scope, fn)
        self.middlewares: List[Tuple["Scope", "Middleware"]] = []
        #: the namespaces given by pattern, in order: (regex or callable, class)
        self.namespace_patterns: List[Tuple["NamespacePattern", Type["SocketConnection"]]] = []
        #: permessage-deflate for the WebSockets (``per_message_deflate``), or None (off)
        options = DeflateOptions.from_setting(settings.per_message_deflate)
        self.ws_deflate: Optional[WebSocketDeflate] = \
            WebSocketDeflate(options) if options is not None else None
        #: the observer of connections, rooms and events (``Router.instrument``'s in
        #: development mode), None otherwise: the sessions report to it
        self.monitor: Optional["Monitor"] = None

    def __repr__(self) -> str:
        return "<Context of %r>" % (self.owner,)
