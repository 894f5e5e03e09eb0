"""SocketConnection, the class users derive from, and the @event decorator."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Optional, Tuple, TypeVar, overload

import gevent
from gevent.event import AsyncResult

from .exceptions import ConnectionClosed, TimeoutError

if TYPE_CHECKING:  # pragma: no cover
    from .request import Request
    from .router import Router
    from .session import Session

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@overload
def event(name_or_fn: F) -> F: ...
@overload
def event(name_or_fn: str) -> Callable[[F], F]: ...


def event(name_or_fn):
    """Mark a method as the handler of a modern client's event.

    ``@event`` uses the method's name; ``@event('nick change')`` names the event (for
    names that are not identifiers or that would shadow a connection method). The
    return value acknowledges: None -> ack(), a tuple -> ack(*t), anything else -> ack(x).
    """
    if callable(name_or_fn):
        name_or_fn._geventio_event = name_or_fn.__name__
        return name_or_fn
    if not isinstance(name_or_fn, str) or not name_or_fn:
        raise TypeError("@event takes a method or an event name")

    def mark(fn):
        fn._geventio_event = name_or_fn
        return fn
    return mark


class SocketConnection:
    """One client connected to one namespace. Subclass it and override the handlers.

    Handlers run in the session's own greenlet, one at a time and in order; they may
    block (database calls, sleeps, :meth:`call`) without stalling other clients.
    """

    #: event name -> method name, collected from @event-marked methods of the class.
    _events: Dict[str, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        events: Dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                name = getattr(value, "_geventio_event", None)
                if name:
                    events[name] = attr
        cls._events = events

    def __init__(self, session: "Session", namespace: str = "/") -> None:
        self.session = session
        self.namespace = namespace
        self.is_closed = False
        self._sid: Optional[str] = None
        #: while on_open runs for a modern client: what it sends, held until the
        #: CONNECT answer is queued (None otherwise)
        self._opening: Optional[list] = None
        self._accepted = False

    # -- to override --------------------------------------------------------------------

    def on_open(self, request: "Request", *args: Any, **kwargs: Any) -> Optional[bool]:
        """A client connected. Return False (or raise ConnectionRefused) to refuse it.

        ``kwargs['extra']`` holds what the router's ``extra_re`` matched (None without
        one); ``kwargs['auth']`` the modern CONNECT payload ({} for 0.6 clients).
        """
        return None

    def on_message(self, message: Any) -> None:
        """A message arrived: text as ``str``, JSON already decoded."""
        log.warning("%s got a message but does not override on_message", type(self).__name__)

    def on_close(self) -> None:
        """The connection ended, whatever ended it. Called exactly once."""

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
        result: AsyncResult = AsyncResult()

        def done(*ack: Any) -> None:
            result.set(ack[0] if len(ack) == 1 else (ack if ack else None))
        done._geventio_immediate = True  # type: ignore[attr-defined]
        done._geventio_fail = result.set_exception  # type: ignore[attr-defined]

        self.session.send_event(self, event, args, done)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            done._geventio_fail = None  # type: ignore[attr-defined]
            raise TimeoutError("no acknowledgement of %r within %s s" % (event, timeout)) from None

    # -- rooms ----------------------------------------------------------------------------

    def join(self, room: str) -> None:
        """Enter a room of this namespace."""
        if not self.is_closed:
            self.router.adapter.join(self, room)

    def leave(self, room: str) -> None:
        """Leave a room of this namespace (its own session_id room included, if asked)."""
        self.router.adapter.leave(self, room)

    @property
    def rooms(self) -> FrozenSet[str]:
        """The rooms this connection is in (always including its session_id)."""
        return self.router.adapter.rooms_of(self)

    # -- state ----------------------------------------------------------------------------

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
    def router(self) -> "Router":
        return self.session.router

    def __repr__(self) -> str:
        return "<%s %s %s>" % (type(self).__name__, self.session.id, self.namespace)


def ack_args(value: Any) -> Tuple[Any, ...]:
    """What a handler's return value acknowledges with."""
    if value is None:
        return ()
    if isinstance(value, tuple):
        return value
    return (value,)


def find_handler(conn: SocketConnection, name: str) -> Optional[Callable[..., Any]]:
    """The bound method for event ``name``, or None."""
    attr = type(conn)._events.get(name)
    return getattr(conn, attr) if attr else None

