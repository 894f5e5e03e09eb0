"""get_router(...) -> Router: a WSGI app serving one handler class at one resource.

The router reads the URL, recognises the protocol generation and the transport, and hands
the request to that transport's module. Its services are objects of their own, handed down
in a :class:`~geventio.context.Context`: the session registry
(:class:`~geventio.sessions.SessionRegistry`) and the adapter that keeps rooms and
broadcasts (:class:`~geventio.adapters.Adapter`).
"""
from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Type, TypeVar
from urllib.parse import parse_qsl


from . import cors, message_queue
from .acks import AckCollector
from .admin import Admin
from .adapters import Adapter, BroadcastOptions, InMemoryAdapter, Target
from .connection import SocketConnection
from .context import Context
from .engine import EngineSession
from .hooks import Scope, is_pattern, request_allowed
from .protocol import socketio as sio
from .sessions import SessionRegistry, TooManySessions
from .settings import Settings
from .sockets import SocketIOSession, msgpack_session_class
from .transports import (eio_polling, eio_websocket, htmlfile, jsonp_polling,
                         legacy_websocket, xhr_multipart, xhr_polling)
from .transports.http import EIOError, Exchange, HTTPError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: socket.io 0.6 transport name -> the module that serves it
LEGACY_TRANSPORTS: Dict[str, Any] = {
    "websocket": legacy_websocket,
    "flashsocket": legacy_websocket,
    "xhr-polling": xhr_polling,
    "jsonp-polling": jsonp_polling,
    "xhr-multipart": xhr_multipart,
    "htmlfile": htmlfile,
}


class Route:
    """What ``Router.route()`` gives to :class:`geventio.Application`."""

    def __init__(self, router: "Router") -> None:
        self.router = router

    def matches(self, path: str) -> bool:
        return self.router.serves(path)

    def __repr__(self) -> str:
        return "<Route /%s -> %s>" % (self.router.resource, self.router.handler.__name__)


class Router:
    """Serves ``handler`` (a SocketConnection subclass) at ``/<resource>``."""

    #: The session class for Engine.IO (modern) clients: the Socket.IO layer by default.
    #: A subclass of :class:`geventio.engine.EngineSession` overriding ``on_engine_open`` /
    #: ``on_engine_message`` serves raw Engine.IO instead (the conformance echo does). Set
    #: it on a Router subclass: it is read once, when the router is built.
    engine_session_class: Type[EngineSession] = SocketIOSession

    def __init__(self, handler: Type[SocketConnection],
                 settings: Optional[Mapping[str, Any]] = None,
                 resource: str = "socket.io", extra_re: Optional[str] = None,
                 extra_sep: Optional[str] = None,
                 namespaces: Optional[Mapping[Any, Type[SocketConnection]]] = None,
                 adapter: Any = None) -> None:
        if not (isinstance(handler, type) and issubclass(handler, SocketConnection)):
            raise TypeError("the handler must be a SocketConnection subclass")
        self.handler = handler
        self.settings = Settings.from_mapping(settings)
        if self.settings.parser == "msgpack":
            self._use_msgpack()
        self.resource = resource.strip("/")
        if not self.resource:
            raise ValueError("resource must not be empty")
        self.extra_re = extra_re
        self.extra_sep = extra_sep
        self.namespaces: Dict[str, Type[SocketConnection]] = {"/": handler}
        patterns: List[Any] = []
        for name, cls in (namespaces or {}).items():
            if is_pattern(name):
                patterns.append((name, cls))  # node's dynamic namespaces
                continue
            if not isinstance(name, str) or not name.startswith("/"):
                raise ValueError("namespace names start with '/': %r" % (name,))
            self.namespaces[name] = cls
        pattern = "^/" + re.escape(self.resource)
        if extra_re:
            pattern += re.escape(extra_sep or "") + "(?P<extra>%s)" % extra_re
        pattern += "(?P<rest>/.*)?$"
        self._path_re = re.compile(pattern, re.DOTALL)
        # The path that Engine.IO clients use, served without the regex (None with extra_re).
        self._engine_path = None if extra_re else "/%s/" % self.resource

        #: the live sessions of this router (create, look up, expiry)
        self.sessions = SessionRegistry(self.settings)
        #: rooms and broadcast (this process only unless a cluster adapter is given)
        self.adapter: Adapter = _adapter(adapter, self.settings)
        if self.settings.connection_state_recovery is not None and not self.adapter.recovers:
            log.warning("connection_state_recovery is on but %s keeps no packets: clients "
                        "reconnect as new connections (use RedisStreamsAdapter)",
                        type(self.adapter).__name__)
        #: what the sessions, connections and transports of this router are given
        self.context = Context(self, self.settings, self.sessions, self.adapter, handler,
                               self.namespaces, self.engine_session_class)
        self.context.namespace_patterns.extend(patterns)
        self.adapter.start(self.context)
        #: the Admin UI server (``instrument()``), None until then
        self.admin: Optional[Admin] = None

    def _use_msgpack(self) -> None:
        """parser='msgpack': the engine session class speaking node's msgpack parser."""
        from .protocol.msgpack_parser import require_msgpack
        require_msgpack()  # a clear ImportError now, not at the first client
        base = self.engine_session_class
        if not issubclass(base, SocketIOSession):
            raise ValueError("parser='msgpack' needs a SocketIOSession engine_session_class")
        self.engine_session_class = msgpack_session_class(base)

    def __repr__(self) -> str:
        return "<Router /%s %s, %d sessions>" % (self.resource, self.handler.__name__,
                                                 len(self.sessions))

    def serves(self, path: str) -> bool:
        """Whether ``path`` (a PATH_INFO) is one of this router's."""
        return self._path_re.match(path) is not None

    def route(self) -> Route:
        """The route to give to :class:`geventio.Application`."""
        return Route(self)

    # -- WSGI entry ---------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self._engine_path:
            # "/socket.io/": what every Engine.IO request asks for, without the regex.
            ex = Exchange(self.context, environ, start_response, "")
            modern = True
        else:
            match = self._path_re.match(path)
            if match is None:
                start_response("404 Not Found", [("Content-Type", "text/plain; charset=UTF-8")])
                return [b"not a socket.io resource"]
            rest = (match.group("rest") or "/")[1:]
            parts = rest.split("/")
            ex = Exchange(self.context, environ, start_response, transport=parts[0],
                          sid=parts[1] if len(parts) > 1 else "", tail=parts[2:],
                          extra=match.groupdict().get("extra"))
            modern = ex.transport == "" and len(parts) <= 2 and not ex.sid
        try:
            if modern:
                return self._dispatch_modern(ex)
            return self._dispatch(ex)
        except HTTPError as exc:
            return ex.error(exc.status, exc.message, exc.headers)
        except EIOError as exc:
            return _eio_error(ex, exc)
        except TooManySessions:
            return ex.error("503 Service Unavailable", "too many sessions")

    def _dispatch_modern(self, ex: Exchange) -> Iterable[bytes]:
        """Engine.IO requests: ``/<resource>/?EIO=4&transport=polling[&sid=...]``."""
        environ = ex.environ
        query = _query(environ.get("QUERY_STRING", ""))
        origins = self.settings.cors_allowed_origins
        origin = environ.get("HTTP_ORIGIN")
        if not cors.origin_allowed(origin, environ, origins):
            log.warning("refused a request from origin %r (cors_allowed_origins)", origin)
            raise EIOError(4, "origin not allowed")
        if ex.method == "OPTIONS":
            ex.start_response("204 No Content", cors.preflight_headers(environ, origins))
            return []
        version = query.get("EIO")
        if version not in ("4", "3") or (version == "3" and not self.settings.allow_eio3):
            raise EIOError(5, "unsupported EIO=%r" % (version,))
        transport = query.get("transport")
        if transport not in ("polling", "websocket") or transport not in self.settings.transports:
            raise EIOError(0, "transport %r unknown or disabled" % (transport,))
        if not query.get("sid") and not request_allowed(self.settings, environ):
            raise EIOError(4, "refused by allow_request")
        if transport == "websocket":
            if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
                raise EIOError(3, "transport=websocket without a WebSocket upgrade")
            return eio_websocket.handle(ex, int(version), query)
        return eio_polling.handle(ex, int(version), query)

    def _dispatch(self, ex: Exchange) -> Iterable[bytes]:
        environ = ex.environ
        origins = self.settings.cors_allowed_origins
        origin = environ.get("HTTP_ORIGIN")
        if not cors.origin_allowed(origin, environ, origins):
            log.warning("refused a request from origin %r (cors_allowed_origins)", origin)
            raise HTTPError("403 Forbidden", "origin not allowed")
        if ex.method == "OPTIONS":
            ex.start_response("200 OK", [("Content-Length", "0")]
                              + cors.preflight_headers(environ, origins))
            return [b""]
        module = LEGACY_TRANSPORTS.get(ex.transport)
        if module is None:
            raise HTTPError("404 Not Found", "unknown transport %r" % ex.transport[:40])
        if ex.transport not in self.settings.enabled_protocols:
            raise HTTPError("403 Forbidden", "transport %s is disabled" % ex.transport)
        if ex.method not in ("GET", "POST"):
            raise HTTPError("405 Method Not Allowed", "use GET or POST",
                            [("Allow", "GET, POST, OPTIONS")])
        if not ex.sid and not request_allowed(self.settings, environ):
            raise HTTPError("403 Forbidden", "refused by allow_request")
        return module.handle(ex)

    # -- hooks --------------------------------------------------------------------------

    def use(self, fn: F, namespace: Scope = None) -> F:
        """Add connection middleware ``fn(conn, request, auth)``: it runs before
        ``on_open`` (where on_open runs; it may block), after the middlewares added
        before it; ``raise ConnectionRefused(message, data)`` refuses the client.
        ``namespace``: None for every namespace, a name, or a pattern given to
        ``namespaces``. Skipped for a recovered connection. Returns ``fn``."""
        if not callable(fn):
            raise TypeError("a middleware is a callable fn(conn, request, auth)")
        self.context.middlewares.append((namespace, fn))
        return fn

    def instrument(self, auth: Any = None, mode: str = "development", read_only: bool = False,
                   namespace: str = "/admin", server_id: Optional[str] = None,
                   stats_interval: float = 2.0) -> Admin:
        """Serve the Socket.IO Admin UI (node's ``@socket.io/admin-ui`` 0.5.x protocol) on
        ``namespace``. ``auth``: None (no authentication, logged as a warning) or
        ``{"type": "basic", "username": u, "password": p}`` (``p`` plain, or a bcrypt hash
        with the ``bcrypt`` package installed). ``mode="production"`` sends no
        per-socket detail and no events; ``read_only`` refuses join/leave/disconnect;
        ``server_id`` names this process in the UI (default ``<hostname>#<pid>``);
        ``server_stats`` go out every ``stats_interval`` seconds. Call it before serving;
        with a cluster adapter, in every process. Returns the :class:`geventio.admin.Admin`."""
        if self.admin is not None:
            raise RuntimeError("this router is already instrumented")
        if namespace in self.namespaces:
            raise ValueError("namespace %r already has a handler class" % (namespace,))
        admin = Admin(self, auth=auth, mode=mode, read_only=read_only, namespace=namespace,
                      server_id=server_id, stats_interval=stats_interval)
        self.namespaces[namespace] = admin.connection_class
        self.adapter.add_namespace(namespace)
        admin.start()
        self.admin = admin
        return admin

    # -- sessions -----------------------------------------------------------------------

    @property
    def session_count(self) -> int:
        return len(self.sessions)

    def close(self) -> None:
        """Close every session (their on_close handlers run) and stop the sweeper."""
        if self.admin is not None:
            self.admin.stop()
        self.sessions.close_all("server shutdown")
        self.adapter.close()

    # -- sending from outside a connection (every process of a cluster) -----------------

    def connections(self, room: Optional[str] = None,
                    namespace: str = "/") -> List[SocketConnection]:
        """The live connections in this process (in ``room`` when given)."""
        return self.adapter.select(namespace, BroadcastOptions.select(room))

    def send(self, message: Any, to: Target = None, skip: Any = None, namespace: str = "/",
             local: bool = False, volatile: bool = False) -> int:
        """Send a message to every connection of ``namespace`` (or in the rooms ``to``),
        except ``skip``, in every process of the cluster (``local``: this one only). The
        message is encoded once per protocol generation. Returns how many connections of
        this process it was queued for."""
        items = message if isinstance(message, (list, tuple)) else (message,)
        packets = [sio.Packet(sio.EVENT, namespace, ["message", m]) for m in items]
        return self.adapter.broadcast(namespace, packets,
                                      BroadcastOptions.select(to, skip, local, volatile))

    def emit(self, event: str, *args: Any, to: Target = None, skip: Any = None,
             namespace: str = "/", local: bool = False, volatile: bool = False) -> int:
        """Emit an event like :meth:`send` sends a message (``volatile``: dropped for a
        client whose transport is busy)."""
        packet = sio.Packet(sio.EVENT, namespace, [event, *args])
        return self.adapter.broadcast(namespace, (packet,),
                                      BroadcastOptions.select(to, skip, local, volatile))

    def call(self, event: str, *args: Any, to: Target = None, skip: Any = None,
             namespace: str = "/", timeout: float = 5.0) -> List[Any]:
        """Emit to every matching client of every process and block until all acknowledge:
        the list of their ack values (one per client; a list where one acked several).
        Raises :class:`geventio.TimeoutError` whose ``.responses`` holds those that came.
        0.6 clients get the event as a message and are not waited for. ``timeout`` bounds
        the whole call, a cluster adapter's wait to receive a namespace created from a
        pattern included."""
        deadline = time.monotonic() + timeout
        collector = AckCollector()
        packet = sio.Packet(sio.EVENT, namespace, [event, *args])
        self.adapter.broadcast_with_ack(namespace, packet, BroadcastOptions.select(to, skip),
                                        timeout, collector.client_count, collector.ack)
        # counted once the broadcast is out: a cluster adapter listens to a namespace
        # created from a pattern for the answers, and only then counts who else does
        collector.expect_servers(self.adapter.server_count(namespace))
        return collector.wait(timeout, event, until=deadline)

    def fetch_connections(self, room: Target = None, namespace: str = "/",
                          timeout: Optional[float] = None, skip: Any = None) -> List[Any]:
        """The connections of every process (node's ``fetchSockets``): this process's
        SocketConnections and, for the others, RemoteConnections (``.session_id
        .namespace .rooms .data .handshake``; ``.emit() .send() .join() .leave()
        .close()`` act wherever the client is). ``timeout``: the adapter's
        ``requests_timeout`` by default; after it, what came is returned."""
        return self.adapter.fetch_connections(namespace, BroadcastOptions.select(room, skip),
                                              timeout)

    def join(self, room: str, to: Target = None, skip: Any = None, namespace: str = "/") -> None:
        """Make the matching connections of every process join ``room``."""
        self.adapter.add_rooms(namespace, BroadcastOptions.select(to, skip), (room,))

    def leave(self, room: str, to: Target = None, skip: Any = None,
              namespace: str = "/") -> None:
        """Make the matching connections of every process leave ``room``."""
        self.adapter.del_rooms(namespace, BroadcastOptions.select(to, skip), (room,))

    def disconnect(self, to: Target = None, skip: Any = None, namespace: str = "/",
                   close: bool = False) -> None:
        """Disconnect the matching connections of every process (``close``: end their
        transport too)."""
        self.adapter.disconnect_connections(namespace, BroadcastOptions.select(to, skip), close)

    def server_side_emit(self, event: str, *args: Any, namespace: str = "/",
                         callback: Optional[Callable[[List[Any]], None]] = None,
                         timeout: Optional[float] = None) -> None:
        """An event to the other servers of the cluster (node's ``serverSideEmit``);
        ``callback(responses)`` gets their answers (what came, after ``timeout``)."""
        self.adapter.server_side_emit(namespace, [event, *args], callback, timeout)

    def server_event(self, name: str, namespace: str = "/") -> Callable[[F], F]:
        """Decorator: the handler of ``name`` events from other servers (geventio or
        node), called with the event's arguments in a greenlet of its own; its return
        value answers."""
        def register(fn: F) -> F:
            self.context.server_events[(namespace, name)] = fn
            return fn
        return register

    def all_rooms(self, namespace: str = "/", timeout: Optional[float] = None) -> Set[str]:
        """Every room of ``namespace`` in the cluster."""
        return set(self.adapter.all_rooms(namespace, timeout))

    def server_count(self, namespace: str = "/") -> int:
        """How many servers the cluster has (1 without a cluster adapter)."""
        return self.adapter.server_count(namespace)


def _adapter(adapter: Any, settings: Settings) -> Adapter:
    """The adapter a router uses: the in-memory one by default (keeping packets and
    sessions when connection state recovery is on); a URL names a cluster adapter
    (``redis://``, ``rediss://``, ``amqp://``)."""
    if adapter is None:
        adapter = message_queue.default()  # geventio-serve --message-queue
        if adapter is None:
            if settings.connection_state_recovery is not None:
                from .adapters.session_aware import SessionAwareAdapter
                return SessionAwareAdapter(settings.connection_state_recovery,
                                           settings.recovery_max_packets,
                                           settings.recovery_max_sessions)
            return InMemoryAdapter()
    if isinstance(adapter, str):
        scheme = adapter.partition(":")[0].lower()
        if scheme in ("redis", "rediss", "unix"):
            from .adapters.redis import RedisAdapter
            return RedisAdapter(adapter)
        if scheme in ("amqp", "amqps", "pyamqp"):
            from .adapters.amqp import AmqpAdapter
            return AmqpAdapter.from_url(adapter)
        raise ValueError("adapter=%r: unknown adapter URL scheme (redis://, rediss://, "
                         "amqp://)" % adapter[:60])
    if not isinstance(adapter, Adapter):
        raise TypeError("adapter must be a geventio.adapters.Adapter, not %s"
                        % type(adapter).__name__)
    return adapter


def _query(text: str) -> Dict[str, str]:
    """An Engine.IO query string as a dict (the last value of a repeated name wins, as
    with ``dict(parse_qsl(text, keep_blank_values=True))``); percent-decoding only when
    something is encoded."""
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    query = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            query[name] = value
    return query


def _eio_error(ex: Exchange, exc: EIOError) -> List[bytes]:
    from .protocol.engineio import error_body, error_status
    status = error_status(exc.code)
    log.info("%s %s -> %d code %d (%s)", ex.method, ex.environ.get("PATH_INFO"), status,
             exc.code, exc.why)
    body = error_body(exc.code).encode("utf-8")
    return ex.respond("%d %s" % (status, "Forbidden" if status == 403 else "Bad Request"),
                      body, "application/json")


def get_router(handler: Type[SocketConnection], settings: Optional[Mapping[str, Any]] = None,
               resource: str = "socket.io", extra_re: Optional[str] = None,
               extra_sep: Optional[str] = None,
               namespaces: Optional[Mapping[Any, Type[SocketConnection]]] = None,
               adapter: Any = None) -> Router:
    """Build the router serving ``handler`` (see :class:`Router`; settings in
    :class:`geventio.settings.Settings`; ``adapter``: where rooms live, an
    :class:`geventio.adapters.Adapter` or a URL (``redis://...``: a
    :class:`geventio.RedisAdapter`), in-memory by default)."""
    return Router(handler, settings=settings, resource=resource, extra_re=extra_re,
                  extra_sep=extra_sep, namespaces=namespaces, adapter=adapter)
