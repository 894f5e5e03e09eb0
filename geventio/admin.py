"""The Socket.IO Admin UI's server side: node's ``@socket.io/admin-ui`` 0.5.x protocol.

``Router.instrument(...)`` builds one :class:`Admin`: it serves the admin namespace
(``/admin``) with :class:`AdminConnection` (authentication, ``config``, ``all_sockets``,
and the UI's ``emit`` / ``join`` / ``leave`` / ``_disconnect``, which act through the
router's cluster operations), emits ``server_stats`` to that namespace every
``stats_interval`` seconds, and is the router's :class:`~geventio.monitor.Monitor`:
it counts sessions opened and closed (with the reason) and packets and their size in and
out (``aggregatedEvents``) and, in development mode, turns connections, rooms and events
into the ``socket_connected`` / ``socket_disconnected`` / ``socket_updated`` / ``room_joined`` /
``room_left`` / ``event_received`` / ``event_sent`` events. Every one of them is a router
broadcast to the admin namespace, so with a cluster adapter each process's admin clients
see every process. This module never imports the router: it uses it through
:class:`RouterOps`.
"""
from __future__ import annotations

import datetime
import hmac
import logging
import os
import socket
import time
from collections import OrderedDict
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Protocol,
                    Set, Tuple, Type)

import gevent
from gevent.pool import Pool
from gevent.queue import Full, Queue

from .connection import SocketConnection, event
from .exceptions import ConnectionRefused
from .monitor import WatchedDict

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context
    from .request import Request
    from .sessions import SessionRegistry

log = logging.getLogger(__name__)

#: what the UI may do unless read-only (node 4.x servers offer all of these)
WRITE_FEATURES = ("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
#: the session ids handed to authenticated admin clients kept per process (oldest dropped)
MAX_ADMIN_SESSIONS = 1000
#: the transports counted in ``pollingClientsCount``
POLLING_TRANSPORTS = frozenset(("polling", "xhr-polling", "jsonp-polling"))
#: the namespaces given by pattern that are listed once seen (beyond: not listed)
MAX_SEEN_NAMESPACES = 1000
#: admin events waiting to be broadcast (beyond: dropped, counted in the log)
MAX_PENDING_EVENTS = 10_000
#: the bytes those events may hold in all, about (beyond: dropped, counted in the log)
MAX_PENDING_BYTES = 16 * 1024 * 1024
#: an event_received / event_sent whose ``[name, *args]`` is larger (about, in bytes of
#: JSON) is shown as ``[name, ARGS_NOT_SHOWN]``
MAX_SHOWN_ARGS_SIZE = 100_000
#: what the UI shows instead of arguments over MAX_SHOWN_ARGS_SIZE
ARGS_NOT_SHOWN = "(arguments over %d bytes not shown)" % MAX_SHOWN_ARGS_SIZE
#: the namespaces whose connections are fetched at once for an admin client's all_sockets
MAX_PARALLEL_FETCHES = 8
#: the kinds of (dis)connection counted per stats interval (disconnection reasons beyond:
#: counted without a reason)
MAX_CONNECTION_KINDS = 64
#: the prefixes of a bcrypt hash (``$2a$10$`` + 53 characters)
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")

_STARTED = time.monotonic()

Checker = Callable[[Any, Any], bool]


class RouterOps(Protocol):
    """What the admin uses of its router (``geventio.router.Router``)."""

    context: "Context"
    sessions: "SessionRegistry"

    def emit(self, event: str, *args: Any, to: Any = None, skip: Any = None,
             namespace: str = "/", local: bool = False, volatile: bool = False) -> int: ...

    def connections(self, room: Optional[str] = None,
                    namespace: str = "/") -> List[SocketConnection]: ...

    def fetch_connections(self, room: Any = None, namespace: str = "/",
                          timeout: Optional[float] = None, skip: Any = None) -> List[Any]: ...

    def join(self, room: str, to: Any = None, skip: Any = None,
             namespace: str = "/") -> None: ...

    def leave(self, room: str, to: Any = None, skip: Any = None,
              namespace: str = "/") -> None: ...

    def disconnect(self, to: Any = None, skip: Any = None, namespace: str = "/",
                   close: bool = False) -> None: ...


def timestamp() -> str:
    """Now as JavaScript's ``new Date()`` travels in JSON (ISO 8601, ms, ``Z``)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def password_checker(auth: Any) -> Optional[Checker]:
    """``auth`` as a check ``(username, password) -> bool``; None for ``auth=None``.

    ``{"type": "basic", "username": u, "password": p}``: ``p`` is a bcrypt hash (as node
    requires; checked with the ``bcrypt`` package, in gevent's thread pool) when it has
    the bcrypt form, otherwise the plain password (compared in constant time)."""
    if auth is None:
        return None
    if not isinstance(auth, Mapping) or auth.get("type") != "basic":
        raise ValueError('auth must be None or {"type": "basic", "username": ..., '
                         '"password": ...}')
    username, password = auth.get("username"), auth.get("password")
    if not (isinstance(username, str) and username and isinstance(password, str)
            and password):
        raise ValueError("auth needs a non-empty username and password")
    expected_user = username.encode("utf-8")
    if password.startswith(BCRYPT_PREFIXES) and len(password) == 60:
        try:
            import bcrypt
        except ImportError:
            raise ImportError("a bcrypt password hash needs the bcrypt package: "
                              "pip install bcrypt (or give the plain password)") from None
        hashed = password.encode("ascii")

        def check_hash(user: Any, given: Any) -> bool:
            if not (isinstance(user, str) and isinstance(given, str)):
                return False
            same_user = hmac.compare_digest(user.encode("utf-8"), expected_user)
            pool = gevent.get_hub().threadpool
            same_password = pool.apply(bcrypt.checkpw, (given.encode("utf-8"), hashed))
            return same_user and bool(same_password)
        return check_hash
    expected = password.encode("utf-8")

    def check_plain(user: Any, given: Any) -> bool:
        if not (isinstance(user, str) and isinstance(given, str)):
            return False
        same_user = hmac.compare_digest(user.encode("utf-8"), expected_user)
        same_password = hmac.compare_digest(given.encode("utf-8"), expected)
        return same_user and same_password
    return check_plain


def _targets(value: Any) -> Any:
    """The UI's ``filter`` argument: None / "" (everyone), a room or socket id, or a list."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ValueError("not a room, a socket id or a list of them: %r" % (value,))


def json_size(value: Any, budget: int) -> int:
    """About how many bytes ``value`` takes as JSON (a floor): the walk stops once the
    count passes ``budget``, so it costs at most about ``budget`` steps."""
    total = 0
    stack = [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item) + 2
        elif isinstance(item, (list, tuple, dict)):
            total += len(item) + 2  # a separator each (and ": " for a dict's entries)
            if total <= budget:
                stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            total += 4
    return total


def plain(value: Any) -> Any:
    """A copy of ``value`` in plain dicts and lists (a snapshot of watched data)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def shown(data: List[Any]) -> List[Any]:
    """An event's ``[name, *args]`` as the UI is sent it: its arguments replaced by
    ARGS_NOT_SHOWN when it is over MAX_SHOWN_ARGS_SIZE."""
    if json_size(data, MAX_SHOWN_ARGS_SIZE) <= MAX_SHOWN_ARGS_SIZE:
        return list(data)
    return [*data[:1], ARGS_NOT_SHOWN]


def _namespace(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("not a namespace: %r" % (value,))
    return value


class AdminConnection(SocketConnection):
    """A client of the admin namespace (the Admin UI): authenticated in ``on_open`` (sent
    ``config`` and ``all_sockets`` once accepted, see :meth:`Admin.welcome`); its events act
    on the router's connections unless the admin is read-only."""

    #: the Admin this class serves (set on the subclass ``Admin`` makes)
    admin: "Admin"

    def on_open(self, request: "Request", *args: Any, **kwargs: Any) -> None:
        self.admin.accept(self, kwargs.get("auth") or {})

    @event("emit")
    def on_emit(self, nsp: Any, filter: Any = None, name: Any = None, *args: Any) -> None:
        """``io.of(nsp).in(filter).emit(name, ...args)``."""
        if self.admin.allowed(self, "emit") and isinstance(name, str):
            self.admin.router.emit(name, *args, to=_targets(filter), namespace=_namespace(nsp))

    @event("join")
    def on_join(self, nsp: Any, room: Any = None, filter: Any = None) -> None:
        """``io.of(nsp).in(filter).socketsJoin(room)``."""
        if self.admin.allowed(self, "join") and isinstance(room, str):
            self.admin.router.join(room, to=_targets(filter), namespace=_namespace(nsp))

    @event("leave")
    def on_leave(self, nsp: Any, room: Any = None, filter: Any = None) -> None:
        """``io.of(nsp).in(filter).socketsLeave(room)``."""
        if self.admin.allowed(self, "leave") and isinstance(room, str):
            self.admin.router.leave(room, to=_targets(filter), namespace=_namespace(nsp))

    @event("_disconnect")
    def on_disconnect_sockets(self, nsp: Any, close: Any = False, filter: Any = None) -> None:
        """``io.of(nsp).in(filter).disconnectSockets(close)``."""
        if self.admin.allowed(self, "_disconnect"):
            self.admin.router.disconnect(to=_targets(filter), namespace=_namespace(nsp),
                                         close=bool(close))

    def on_error(self, exc: Exception, event: str, args: Any) -> None:
        log.warning("admin %s: %r refused: %s", self.session_id, event, exc)


class Admin:
    """One router's Admin UI server (see the module docstring) and its :class:`Monitor`.
    Made and started by ``Router.instrument``; ``stop()`` on the router's close."""

    def __init__(self, router: RouterOps, auth: Any = None, mode: str = "development",
                 read_only: bool = False, namespace: str = "/admin",
                 server_id: Optional[str] = None, stats_interval: float = 2.0) -> None:
        if mode not in ("development", "production"):
            raise ValueError("mode is 'development' or 'production', not %r" % (mode,))
        if not isinstance(namespace, str) or not namespace.startswith("/") or namespace == "/":
            raise ValueError("the admin namespace is a name like '/admin', not %r"
                             % (namespace,))
        if not stats_interval > 0:
            raise ValueError("stats_interval must be positive")
        self.router = router
        self.check = password_checker(auth)
        if self.check is None:
            log.warning("the Admin UI at %s has no authentication (auth=None): anyone who "
                        "reaches it may watch and disconnect clients", namespace)
        self.development = mode == "development"
        self.read_only = bool(read_only)
        self.namespace = namespace
        self.server_id = server_id or "%s#%d" % (socket.gethostname(), os.getpid())
        self.stats_interval = float(stats_interval)
        features = [] if self.read_only else list(WRITE_FEATURES)
        features.append("AGGREGATED_EVENTS")
        if self.development:
            features.append("ALL_EVENTS")
        #: what ``config`` announces (node's supportedFeatures)
        self.features = features
        #: the SocketConnection class of the admin namespace
        self.connection_class: Type[AdminConnection] = type(
            "AdminConnection", (AdminConnection,), {"admin": self, "__module__": __name__})
        self._admin_sessions: "OrderedDict[str, None]" = OrderedDict()
        self._reported: Set[SocketConnection] = set()
        self._seen_namespaces: Set[str] = set()
        #: (type, subType) -> sessions opened / closed since the last server_stats
        self._connections: Dict[Tuple[str, Optional[str]], int] = {}
        self._stats: Optional[gevent.Greenlet] = None
        #: admin client -> the greenlet sending it config and all_sockets
        self._welcomes: Dict[SocketConnection, gevent.Greenlet] = {}
        #: (event, args, size) reported and not yet broadcast: a report never blocks its
        #: caller (it may run in the event loop; some adapters' broadcasts wait for their
        #: server); bounded in count and in bytes (``size``: :func:`json_size`)
        self._pending: Queue = Queue(MAX_PENDING_EVENTS)
        self._pending_bytes = 0
        self._sender: Optional[gevent.Greenlet] = None
        self._dropped = 0
        #: packets in, size in, packets out, size out since the last server_stats
        self._traffic = [0, 0, 0, 0]

    def __repr__(self) -> str:
        return "<Admin %s %s%s>" % (self.namespace, "development" if self.development
                                    else "production", " read-only" if self.read_only else "")

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Report to the router's sessions and adapter (development mode) and start the
        ``server_stats`` greenlet (the first stats go out at once, as node's)."""
        context = self.router.context
        if self.development:
            self._sender = gevent.spawn(self._send_loop)
            for name in self.namespaces():  # connections made before instrument()
                for conn in self.router.connections(namespace=name):
                    self._adopt(conn)
            context.adapter.set_monitor(self)
        context.monitor = self  # production: traffic only
        self._stats = gevent.spawn(self._stats_loop)

    def stop(self) -> None:
        """Stop reporting and emitting stats."""
        context = self.router.context
        if context.monitor is self:
            context.monitor = None
            context.adapter.set_monitor(None)
        for greenlet in (self._stats, self._sender, *self._welcomes.values()):
            if greenlet is not None:
                greenlet.kill(block=False)
        self._stats = self._sender = None
        self._welcomes.clear()

    # -- admin clients -------------------------------------------------------------------

    def accept(self, conn: SocketConnection, auth: Mapping[str, Any]) -> None:
        """Authenticate an admin client (raises ConnectionRefused "invalid credentials"),
        then send it ``session`` (a new login); ``config`` and ``all_sockets`` follow once
        it is connected (:meth:`welcome`)."""
        if self.check is not None:
            session_id = auth.get("sessionId")
            if not (isinstance(session_id, str) and session_id in self._admin_sessions):
                if not self.check(auth.get("username"), auth.get("password")):
                    log.warning("admin client %s refused: invalid credentials",
                                conn.request.remote_addr)
                    raise ConnectionRefused("invalid credentials")
                session_id = os.urandom(8).hex()
                self._admin_sessions[session_id] = None
                while len(self._admin_sessions) > MAX_ADMIN_SESSIONS:
                    self._admin_sessions.popitem(last=False)
                conn.emit("session", session_id)

    def welcome(self, conn: SocketConnection) -> None:
        """Send an accepted admin client ``config`` and, in development mode,
        ``all_sockets`` (node's order), from a greenlet of its own killed when the client
        goes or the admin stops: a slow cluster never delays its CONNECT."""
        def send() -> None:
            try:
                conn.emit("config", {"supportedFeatures": list(self.features)})
                if self.development:
                    sockets = self.all_sockets()
                    if not conn.is_closed:
                        conn.emit("all_sockets", sockets)
            except Exception:
                log.exception("admin %s: config or all_sockets could not be sent",
                              conn.session_id)
            finally:
                if self._welcomes.get(conn) is greenlet:
                    del self._welcomes[conn]
        greenlet = self._welcomes[conn] = gevent.spawn(send)

    def allowed(self, conn: SocketConnection, what: str) -> bool:
        """Whether the admin client may act (not read-only); a refusal is logged."""
        if self.read_only:
            log.warning("admin %s: %s refused (read-only)", conn.session_id, what)
            return False
        return True

    # -- what the UI is shown ------------------------------------------------------------

    def namespaces(self) -> List[str]:
        """The namespaces known here: the router's names, those with connections here
        (also made from a pattern before ``instrument()``) and those seen connecting."""
        context = self.router.context
        names = {n for n in context.namespaces if isinstance(n, str)}
        names.update(context.adapter.local_namespaces())
        names.update(self._seen_namespaces)
        return sorted(names)

    def all_sockets(self) -> List[Dict[str, Any]]:
        """Every connection of every namespace in the cluster, serialized; the namespaces
        are fetched in parallel (MAX_PARALLEL_FETCHES at a time), as node's Promise.all."""
        pool = Pool(MAX_PARALLEL_FETCHES)
        fetches = []
        try:
            # spawned from this greenlet (not Pool.map's own), so that killing it stops
            # the fetches not started yet as well as those waiting
            for name in self.namespaces():
                fetches.append(pool.spawn(self._fetch, name))
            pool.join()
        finally:
            pool.kill(block=False)
        return [entry for fetch in fetches for entry in (fetch.value or [])]

    def _fetch(self, name: str) -> List[Dict[str, Any]]:
        try:
            conns = self.router.fetch_connections(namespace=name)
        except Exception:
            log.exception("admin: fetching the connections of %s failed", name)
            return []
        return [serialize(conn, name) for conn in conns]

    def stats(self) -> Dict[str, Any]:
        """This process's ``server_stats``."""
        sessions = self.router.sessions.all()
        now = int(time.time()) * 1000
        aggregated: List[Dict[str, Any]] = []
        connections, self._connections = self._connections, {}
        for (kind, reason), count in connections.items():
            entry: Dict[str, Any] = {"timestamp": now, "type": kind, "count": count}
            if reason is not None:
                entry["subType"] = reason
            aggregated.append(entry)
        traffic, self._traffic = self._traffic, [0, 0, 0, 0]
        for kind, count in zip(("packetsIn", "bytesIn", "packetsOut", "bytesOut"), traffic):
            if count:
                aggregated.append({"timestamp": now, "type": kind, "count": count})
        return {
            "serverId": self.server_id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "uptime": time.monotonic() - _STARTED,
            "clientsCount": len(sessions),
            "pollingClientsCount": sum(1 for s in sessions
                                       if s.transport in POLLING_TRANSPORTS),
            "aggregatedEvents": aggregated,
            "namespaces": [{"name": name,
                            "socketsCount": len(self.router.connections(namespace=name))}
                           for name in self.namespaces()],
        }

    def _stats_loop(self) -> None:
        while True:
            try:
                self.router.emit("server_stats", self.stats(), namespace=self.namespace)
            except Exception:
                log.exception("admin: server_stats failed")
            gevent.sleep(self.stats_interval)

    def _emit(self, name: str, *args: Any) -> None:
        """Queue one event for the admin clients of every process (never blocks; beyond
        MAX_PENDING_EVENTS or MAX_PENDING_BYTES it is dropped and counted in the log)."""
        room = MAX_PENDING_BYTES - self._pending_bytes
        size = json_size(args, room)
        try:
            if size > room:
                raise Full
            self._pending.put_nowait((name, args, size))
        except Full:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.warning("admin: %d events (%d bytes) waiting; %d dropped so far",
                            self._pending.qsize(), self._pending_bytes, self._dropped)
            return
        self._pending_bytes += size

    @property
    def pending_bytes(self) -> int:
        """About how many bytes the admin events waiting to be broadcast hold."""
        return self._pending_bytes

    def _send_loop(self) -> None:
        """Broadcast the queued events in order; a failure is logged, never raised into
        the session or adapter that reported."""
        while True:
            name, args, size = self._pending.get()
            self._pending_bytes -= size
            try:
                self.router.emit(name, *args, namespace=self.namespace)
            except Exception:
                log.exception("admin: %s could not be sent", name)

    # -- Monitor (development mode) ------------------------------------------------------

    def _adopt(self, conn: SocketConnection) -> None:
        """Watch ``conn`` from now on (its rooms, its end), and tag its ``data`` with what
        other processes' admins show (node's ``data._admin``)."""
        self._reported.add(conn)
        if len(self._seen_namespaces) < MAX_SEEN_NAMESPACES:
            self._seen_namespaces.add(conn.namespace)
        meta = {"clientId": conn.session.id[:12], "transport": conn.session.transport}
        # node's Proxy on socket.data: a change the application makes is socket_updated
        conn.data = WatchedDict(conn.data, lambda: self._data_changed(conn),
                                quiet={"_admin": meta})

    def _data_changed(self, conn: SocketConnection) -> None:
        if conn in self._reported:
            # a copy: the report is sent later, the data may change again meanwhile
            data = plain(serialize(conn, conn.namespace)["data"])
            self._emit("socket_updated", {"id": conn.session_id, "nsp": conn.namespace,
                                          "data": data})

    def connected(self, conn: SocketConnection) -> None:
        if isinstance(conn, self.connection_class):
            self.welcome(conn)
        if not self.development:
            return
        self._adopt(conn)
        self._emit("socket_connected", serialize(conn, conn.namespace), timestamp())

    def disconnected(self, conn: SocketConnection, reason: str) -> None:
        welcome = self._welcomes.pop(conn, None)
        if welcome is not None:
            welcome.kill(block=False)
        if conn in self._reported:
            self._reported.discard(conn)
            self._emit("socket_disconnected", conn.namespace, conn.session_id, reason,
                       timestamp())

    def room_joined(self, conn: SocketConnection, room: str) -> None:
        if conn in self._reported:
            self._emit("room_joined", conn.namespace, room, conn.session_id, timestamp())

    def room_left(self, conn: SocketConnection, room: str) -> None:
        if conn in self._reported:
            self._emit("room_left", conn.namespace, room, conn.session_id, timestamp())

    def event_received(self, conn: SocketConnection, data: List[Any]) -> None:
        if self.development and conn.namespace != self.namespace:
            self._emit("event_received", conn.namespace, conn.session_id, shown(data),
                       timestamp())

    def event_sent(self, conn: SocketConnection, data: List[Any]) -> None:
        if self.development and conn.namespace != self.namespace:
            self._emit("event_sent", conn.namespace, conn.session_id, shown(data), timestamp())

    def session_opened(self, session: Any) -> None:
        self._count(("rawConnection", None))

    def session_closed(self, session: Any, reason: str) -> None:
        self._count(("rawDisconnection", reason))

    def _count(self, key: Tuple[str, Optional[str]]) -> None:
        counts = self._connections
        if key not in counts and len(counts) >= MAX_CONNECTION_KINDS:
            key = (key[0], None)
        counts[key] = counts.get(key, 0) + 1

    def traffic(self, received: bool, packets: int, size: int) -> None:
        counters = self._traffic
        if received:
            counters[0] += packets
            counters[1] += size
        else:
            counters[2] += packets
            counters[3] += size

    def transport_changed(self, session: Any) -> None:
        for conn in list(getattr(session, "connections", {}).values()):
            if conn in self._reported:
                meta = conn.data.get("_admin")
                if isinstance(meta, dict):
                    meta["transport"] = session.transport
                self._emit("socket_updated", {"id": conn.session_id, "nsp": conn.namespace,
                                              "transport": session.transport})


def serialize(conn: Any, namespace: str) -> Dict[str, Any]:
    """A connection (local, or a RemoteConnection of another process) as the UI lists it
    (node's ``serialize``): id, clientId, transport, nsp, data, handshake, rooms."""
    data = conn.data if isinstance(conn.data, dict) else {}
    meta = data.get("_admin")
    meta = meta if isinstance(meta, dict) else {}
    if isinstance(conn, SocketConnection):
        client_id: Any = conn.session.id[:12]
        transport: Any = conn.session.transport
    else:
        client_id = meta.get("clientId", conn.session_id[:12])
        transport = meta.get("transport")
    handshake = conn.handshake if isinstance(conn.handshake, dict) else {}
    headers = handshake.get("headers") or {}
    address = (headers.get("cf-connecting-ip") or headers.get("x-forwarded-for")
               or handshake.get("address"))
    return {
        "id": conn.session_id,
        "clientId": client_id,
        "transport": transport,
        "nsp": namespace,
        "data": {k: v for k, v in data.items() if k != "_admin"},
        "handshake": {
            "address": address,
            "headers": headers,
            "query": handshake.get("query") or {},
            "issued": handshake.get("issued"),
            "secure": handshake.get("secure"),
            "time": handshake.get("time"),
            "url": handshake.get("url"),
            "xdomain": handshake.get("xdomain"),
        },
        "rooms": sorted(conn.rooms),
    }
