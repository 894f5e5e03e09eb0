"""SocketConnection, the class users derive from, and the @event decorator.

Also what a connection needs of the rest: the interface of its session
(:class:`ConnectionSession`, which both protocol generations' sessions provide), its
lifecycle (:class:`ConnectionState`), the acknowledgement callback that ``call()`` blocks on
(:class:`AckWaiter`) and :func:`call_on_open`.
"""
from __future__ import annotations

import enum
import inspect
import logging
import time
from types import MappingProxyType
from typing import (TYPE_CHECKING, Any, Callable, ContextManager, Dict, FrozenSet, Mapping,
                    Optional, Tuple, TypeVar, overload)

import gevent
from gevent.event import AsyncResult

from .acks import DirectAck
from .exceptions import ConnectionClosed, TimeoutError

if TYPE_CHECKING:  # pragma: no cover
    from .request import Request
    from .session import ConnectionSession

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: the attribute @event sets on a method: the name of the event it handles
EVENT_ATTRIBUTE = "geventio_event"

#: SocketConnection subclass -> {event name: method name}, filled as subclasses are defined
_HANDLER_TABLES: Dict[type, Dict[str, str]] = {}

#: the event name of the catch-all handler (``@event('*')``)
ANY_EVENT = "*"


class ConnectionState(enum.Enum):
    """Where a connection is in its life.

    OPENING: ``on_open`` runs (a modern client's sends are held until it returns);
    OPEN: accepted (``on_close`` will run exactly once); CLOSED: ended, or refused."""

    OPENING = "opening"
    OPEN = "open"
    CLOSED = "closed"


OPENING = ConnectionState.OPENING
OPEN = ConnectionState.OPEN
CLOSED = ConnectionState.CLOSED


class AckWaiter(DirectAck):
    """The acknowledgement callback :meth:`SocketConnection.call` blocks on.

    A session resolves it where the acknowledgement is read (it must not wait behind the
    worker, which is blocked in ``call()``: every :class:`~geventio.acks.DirectAck` is),
    and fails it with ConnectionClosed when the connection ends first. Any other callback
    runs in the session's worker."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: Optional[AsyncResult] = AsyncResult()

    def __call__(self, *ack: Any) -> None:
        if self.result is not None:
            self.result.set(ack[0] if len(ack) == 1 else (ack if ack else None))

    def fail(self, exc: BaseException) -> None:
        """The acknowledgement will never come."""
        if self.result is not None:
            self.result.set_exception(exc)

    def abandon(self) -> None:
        """Nobody waits any more (the caller timed out)."""
        self.result = None


def fail_ack(callback: Callable[..., Any]) -> None:
    """Tell ``callback`` its acknowledgement will never come (only a DirectAck listens)."""
    if isinstance(callback, DirectAck):
        callback.fail(ConnectionClosed("the connection closed before acknowledging"))


@overload
def event(name_or_fn: F) -> F: ...
@overload
def event(name_or_fn: str) -> Callable[[F], F]: ...


def event(name_or_fn):
    """Mark a method as the handler of a modern client's event.

    ``@event`` uses the method's name; ``@event('nick change')`` names the event (for
    names that are not identifiers or that would shadow a connection method). The
    return value acknowledges: None -> ack(), a tuple -> ack(*t), anything else -> ack(x).
    ``@event('*')`` is the catch-all: ``def any_event(self, event, *args)`` gets every
    event that has no handler of its own (``message`` goes to ``on_message`` first).
    """
    if callable(name_or_fn):
        setattr(name_or_fn, EVENT_ATTRIBUTE, name_or_fn.__name__)
        return name_or_fn
    if not isinstance(name_or_fn, str) or not name_or_fn:
        raise TypeError("@event takes a method or an event name")

    def mark(fn):
        setattr(fn, EVENT_ATTRIBUTE, name_or_fn)
        return fn
    return mark


class SocketConnection:
    """One client connected to one namespace. Subclass it and override the handlers.

    Handlers run in the session's own greenlet, one at a time and in order; they may
    block (database calls, sleeps, :meth:`call`) without stalling other clients.
    """

    #: the modern client's CONNECT payload (what ``on_open`` gets as ``auth``; kept for
    #: ``handshake`` and other servers' ``fetch_connections``); empty for 0.6 clients
    auth: Mapping[str, Any] = MappingProxyType({})
    _pid: Optional[str] = None
    #: True when this connection's id, rooms, ``data`` and missed packets were restored
    #: from a previous connection (connection state recovery); set before ``on_open``
    recovered: bool = False
    #: None, or a method returning a context manager that every handler call of this
    #: connection runs inside: the middlewares with ``on_open``, each event (with its
    #: ``on_error``), ``on_message``, the callbacks of its ``emit(callback=)`` and
    #: ``on_close`` (geventio.flask and geventio.django use it). With None, the default,
    #: handlers are called bare: the hot path checks this one attribute.
    handler_context: Optional[Callable[[], ContextManager[Any]]] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        events: Dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                name = getattr(value, EVENT_ATTRIBUTE, None)
                if name:
                    events[name] = attr
        _HANDLER_TABLES[cls] = events

    def __init__(self, session: "ConnectionSession", namespace: str = "/") -> None:
        self.session = session
        self.namespace = namespace
        self.state = OPENING
        self._sid = session.connection_id(namespace)

    @property
    def private_id(self) -> Optional[str]:
        """The private id (node's ``pid``) a client presents to recover this connection;
        None unless connection state recovery is on and the client speaks Socket.IO v5.
        (Not named ``pid``: a handler class may well have an event of that name.)"""
        return self._pid

    def give_private_id(self, pid: str) -> None:
        """Set the private id (its session does this when recovery is on)."""
        self._pid = pid

    def adopt(self, sid: str, pid: str, data: Dict[str, Any]) -> None:
        """Take a previous connection's id, private id and ``data`` (its session does
        this when the client recovers)."""
        self._sid = sid
        self._pid = pid
        self.data = data
        self.recovered = True

    # -- to override --------------------------------------------------------------------

    def on_open(self, request: "Request", *args: Any, **kwargs: Any) -> Optional[bool]:
        """A client connected. Return False (or raise ConnectionRefused) to refuse it.

        ``kwargs['extra']`` holds what the router's ``extra_re`` matched (None without
        one); ``kwargs['auth']`` the modern CONNECT payload ({} for 0.6 clients).
        """
        return None

    def on_message(self, message: Any) -> Any:
        """A message arrived: text as ``str``, JSON already decoded. (For a modern
        client's acknowledged ``send``, the return value acknowledges, as an @event
        handler's does.)"""
        log.warning("%s got a message but does not override on_message", type(self).__name__)

    def on_close(self) -> None:
        """The connection ended, whatever ended it. Called exactly once."""

    def on_error(self, exc: Exception, event: str, args: Tuple[Any, ...]) -> None:
        """A handler of ``event`` (``'message'`` for on_message) raised ``exc``; the
        client's acknowledgement, if it asked for one, is not sent. The default logs."""
        log.error("session %s: handler of %r on %s raised", self.session.id, event,
                  self.namespace, exc_info=exc)

    # -- sending --------------------------------------------------------------------------

    def send(self, message: Any) -> None:
        """Send to this client: str -> text, dict/other -> JSON, list -> several messages."""
        if not self.is_closed:
            self.session.send_message(self, message)

    def emit(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None) -> None:
        """Send an event; ``callback(*ack_args)`` runs when the client acknowledges it.

        A 0.6 client has no events: it receives the JSON message
        ``{"name": event, "args": [...]}`` (and never acknowledges).
        """
        if not self.is_closed:
            self.session.send_event(self, event, args, callback)

    def call(self, event: str, *args: Any, timeout: float = 60) -> Any:
        """Emit and block this greenlet until the client acknowledges; return the ack.

        One ack argument is returned as is, several as a tuple, none as None. Raises
        :class:`geventio.TimeoutError` after ``timeout`` seconds, ConnectionClosed if the
        connection ends first, NotSupported for a 0.6 client.
        """
        self.session.check_acks_supported()
        if self.is_closed:
            raise ConnectionClosed("connection is closed")
        waiter = AckWaiter()
        result = waiter.result
        assert result is not None
        self.session.send_event(self, event, args, waiter)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            waiter.abandon()
            raise TimeoutError("no acknowledgement of %r within %s s" % (event, timeout)) from None

    # -- rooms ----------------------------------------------------------------------------

    def join(self, room: str) -> None:
        """Enter a room of this namespace."""
        if not self.is_closed:
            self.session.context.adapter.join(self, room)

    def leave(self, room: str) -> None:
        """Leave a room of this namespace (its own session_id room included, if asked)."""
        self.session.context.adapter.leave(self, room)

    @property
    def rooms(self) -> FrozenSet[str]:
        """The rooms this connection is in (always including its session_id)."""
        return self.session.context.adapter.rooms_of(self)

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """OPENING until on_open accepts, then OPEN, then CLOSED (see ConnectionState).
        Set by the session carrying the connection."""
        return self._state

    @state.setter
    def state(self, value: ConnectionState) -> None:
        self._state = value
        #: the connection ended (or was refused): sends are dropped. Kept with the state
        #: as a plain attribute: every send and every broadcast reads it.
        self.is_closed = value is CLOSED

    def close(self) -> None:
        """Disconnect this connection from the server side."""
        if not self.is_closed:
            self.session.close_connection(self)

    @property
    def session_id(self) -> str:
        """This connection's id: the session id (0.6, Engine.IO 3 on "/"), or the
        Socket.IO sid of this namespace connection (v5)."""
        return self._sid or self.session.id

    @property
    def request(self) -> "Request":
        return self.session.request

    @property
    def data(self) -> Dict[str, Any]:
        """Anything of the application's about this connection (a dict; keep it
        JSON-serialisable): ``Router.fetch_connections`` in other processes sees it."""
        try:
            return self._data
        except AttributeError:
            self._data: Dict[str, Any] = {}
            return self._data

    @data.setter
    def data(self, value: Dict[str, Any]) -> None:
        self._data = value

    @property
    def handshake(self) -> Dict[str, Any]:
        """The request that opened this connection as node's ``socket.handshake``
        (headers, time, address, xdomain, secure, issued, url, query, auth)."""
        return handshake_of(self.request, getattr(self.session, "created", None), self.auth)

    @property
    def router(self) -> Any:
        """The Router this connection belongs to."""
        return self.session.router

    def __repr__(self) -> str:
        return "<%s %s %s>" % (type(self).__name__, self.session.id, self.namespace)


def handshake_of(request: "Request", created: Optional[float],
                 auth: Mapping[str, Any] = MappingProxyType({})) -> Dict[str, Any]:
    """node's handshake object for a request (``created``: a ``time.monotonic()``; ``auth``:
    the CONNECT payload)."""
    now = time.time()
    issued = now - (time.monotonic() - created) if created is not None else now
    environ = request.environ
    path = str(environ.get("PATH_INFO", ""))
    query = str(environ.get("QUERY_STRING", ""))
    return {
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "time": time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)",
                              time.gmtime(issued)),
        "address": request.remote_addr,
        "xdomain": "HTTP_ORIGIN" in environ,
        "secure": environ.get("wsgi.url_scheme") == "https",
        "issued": int(issued * 1000),
        "url": path + ("?" + query if query else ""),
        "query": dict(request.args),
        "auth": dict(auth),
    }


def ack_args(value: Any) -> Tuple[Any, ...]:
    """What a handler's return value acknowledges with."""
    if value is None:
        return ()
    if isinstance(value, tuple):
        return value
    return (value,)


def find_handler(conn: SocketConnection, name: str) -> Optional[Callable[..., Any]]:
    """The bound method for event ``name``, or None."""
    table = _HANDLER_TABLES.get(type(conn))
    attr = table.get(name) if table else None
    return getattr(conn, attr) if attr else None


def find_any_handler(conn: SocketConnection) -> Optional[Callable[..., Any]]:
    """The bound catch-all method (``@event('*')``), or None."""
    return find_handler(conn, ANY_EVENT)


def in_handler_context(conn: SocketConnection, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` inside ``conn.handler_context()`` when the connection declares one."""
    context = conn.handler_context
    if context is None:
        return fn(*args)
    with context():
        return fn(*args)


def report_error(conn: SocketConnection, exc: Exception, name: str,
                 args: Tuple[Any, ...]) -> None:
    """Hand a handler's exception to ``conn.on_error`` (one that raises is logged)."""
    try:
        conn.on_error(exc, name, args)
    except Exception:
        log.exception("session %s: on_error of %s raised", conn.session.id, conn.namespace)


# -- calling on_open with the arguments it can take ------------------------------------------

_SIGNATURES: Dict[Callable[..., Any], Tuple[bool, FrozenSet[str]]] = {}


def call_on_open(conn: SocketConnection, request: "Request", **kwargs: Any) -> Any:
    """Call ``conn.on_open(request, **kwargs)``, passing only the keywords it accepts.

    ``def on_open(self, request)``, ``def on_open(self, *args, **kwargs)`` and
    ``def on_open(self, request, extra=None)`` all work.
    """
    fn = type(conn).on_open
    info = _SIGNATURES.get(fn)
    if info is None:
        params = inspect.signature(fn).parameters.values()
        var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
        names = frozenset(p.name for p in params
                          if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        info = _SIGNATURES[fn] = (var_kw, names)
    var_kw, names = info
    if not var_kw:
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    return conn.on_open(request, **kwargs)

