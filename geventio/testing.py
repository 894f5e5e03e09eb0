"""TestClient: a Socket.IO client run in-process, for the tests of a user's handlers.

No socket and no transport: the client's Socket.IO packets go through the real codecs
(``protocol/socketio.py``, ``protocol/engineio.py``) into a real :class:`SocketIOSession`
made in the router's session registry, and what the session queues for its client is
taken from the session's outbox (``on_push`` / ``take_nowait``, as the WebSocket writer
does) and decoded back. Handlers, rooms, broadcasts and acks run exactly as they do for a
socket.io-client 4.x over a WebSocket. See docs/TESTING.md.
"""
from __future__ import annotations

import logging
import time
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Protocol,
                    Tuple, TypeVar, Union)
from urllib.parse import urlencode

import gevent
from gevent.event import AsyncResult, Event

from .connection import ack_args
from .exceptions import ConnectionClosed, TimeoutError
from .protocol import engineio as eio
from .protocol import msgpack_parser as msgpack_codec
from .protocol import socketio as sio
from .request import Request
from .session import SessionState
from .sockets import SocketIOSession

if TYPE_CHECKING:  # pragma: no cover
    from .app import Application
    from .context import Context

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: what :meth:`TestClient.received` lists: ``(event, *args)``
Received = Tuple[Any, ...]


class _Served(Protocol):
    """What the test client needs of a router: its resource and its Context."""

    resource: str
    context: "Context"


class TestClient:
    """One client connected to one namespace of a router (or of an Application's router).

    ``auth`` is the CONNECT payload (``conn.auth``, ``on_open``'s ``auth``); ``headers``
    and ``query`` make the request handlers see; ``timeout`` bounds every wait (the
    connection's answer, a handler's run). Events the server sends with an ack are
    answered by the handler registered with :meth:`on` (its return value is the ack, as a
    server handler's), else at once with no arguments unless ``auto_ack`` is False.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, router_or_application: Union[_Served, "Application"],
                 namespace: str = "/", auth: Optional[Dict[str, Any]] = None,
                 headers: Optional[Mapping[str, str]] = None, *,
                 query: Optional[Mapping[str, str]] = None, resource: Optional[str] = None,
                 remote_addr: str = "127.0.0.1", auto_ack: bool = True,
                 timeout: float = 5.0) -> None:
        router = _router_of(router_or_application, resource)
        context = router.context
        if not issubclass(context.engine_session_class, SocketIOSession):
            raise TypeError("the router serves raw Engine.IO, not Socket.IO")
        self.namespace = namespace
        self.auto_ack = auto_ack
        self.timeout = timeout
        #: False until the server accepts, and again once disconnected or refused
        self.connected = False
        #: the CONNECT_ERROR data of a refused connection (``{"message", "data"?}``)
        self.refusal: Optional[Any] = None
        #: the Socket.IO id the server gave this connection (``conn.id``)
        self.sid: Optional[str] = None
        self.handlers: Dict[str, Callable[..., Any]] = {}
        self._received: List[Received] = []
        self._arrived = Event()
        self._answered = Event()
        self._acks: Dict[int, AsyncResult] = {}
        self._next_ack = 0
        #: the router's parser setting: 'msgpack' speaks node's socket.io-msgpack-parser
        self._msgpack = getattr(context.engine_session_class, "parser", "") == "msgpack"
        self._decoder: Any = msgpack_codec.Decoder() if self._msgpack else sio.Decoder()
        self._drain_scheduled = False
        self._gone = False
        environ = _environ(router.resource, headers or {}, query or {}, remote_addr)
        session = context.sessions.create(context.engine_session_class, context,
                                          Request(environ), "websocket", 4)
        assert isinstance(session, SocketIOSession)
        #: the server's session of this client (``conn.session``)
        self.session = session
        session.on_push = self._on_push
        session.open([])
        self._to_server(sio.Packet(sio.CONNECT, namespace, auth))
        if not self._answered.wait(timeout):
            self.close()
            raise TimeoutError("no answer to CONNECT %s within %s s" % (namespace, timeout))

    def __repr__(self) -> str:
        return "<TestClient %s %s%s>" % (self.namespace, self.session.id,
                                         "" if self.connected else " disconnected")

    def __enter__(self) -> "TestClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.disconnect()

    # -- sending ------------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Emit an event; returns once the server's handlers queued before it have run."""
        self._check_connected()
        self._to_server(sio.Packet(sio.EVENT, self.namespace, [event, *args]))
        self.settle()

    def send(self, message: Any) -> None:
        """Send a plain message (the handler's ``on_message`` gets it)."""
        self.emit("message", message)

    def call(self, event: str, *args: Any, timeout: float = 5) -> Any:
        """Emit with an ack and return the ack as ``conn.call`` does: one argument as
        is, several as a tuple, none as None. Raises :class:`geventio.TimeoutError`, or
        ConnectionClosed if the connection ends first."""
        self._check_connected()
        ack_id = self._next_ack
        self._next_ack += 1
        result = AsyncResult()
        self._acks[ack_id] = result
        self._to_server(sio.Packet(sio.EVENT, self.namespace, [event, *args], ack_id))
        try:
            ack = result.get(timeout=timeout)
        except gevent.Timeout:
            raise TimeoutError("no acknowledgement of %r within %s s" % (event, timeout)) \
                from None
        finally:
            self._acks.pop(ack_id, None)
        if len(ack) == 1:
            return ack[0]
        return tuple(ack) if ack else None

    def on(self, event: str, handler: Optional[F] = None) -> Any:
        """Register ``handler(*args)`` for an event from the server (also as a decorator:
        ``@client.on("ask")``); its return value acknowledges an event sent with an ack.
        The event is listed by :meth:`received` as well."""
        if handler is None:
            def register(fn: F) -> F:
                self.handlers[event] = fn
                return fn
            return register
        self.handlers[event] = handler
        return handler

    # -- receiving ----------------------------------------------------------------------

    def received(self, wait: float = 0) -> List[Received]:
        """Return and clear what arrived: ``(event, *args)`` tuples, plain messages as
        ``('message', message)``. With ``wait``, waits up to that long for something to
        arrive when nothing has."""
        self.settle()
        if wait and not self._received:
            self._arrived.clear()
            self._arrived.wait(wait)
        self._drain()
        found, self._received = self._received, []
        return found

    def settle(self) -> None:
        """Wait until the server's handlers queued so far for this client have run and
        what they sent has arrived (at most ``timeout``)."""
        done = Event()
        if self.session.run(done.set):
            done.wait(self.timeout)
        gevent.sleep(0)  # the loop's callbacks: other clients' deliveries
        self._drain()

    # -- ending -------------------------------------------------------------------------

    def disconnect(self) -> None:
        """Leave the namespace and close the session, as ``socket.disconnect()`` does;
        returns once the server's ``on_close`` handlers have run (at most ``timeout``)."""
        if self.connected and not self.session.closed:
            self._to_server(sio.Packet(sio.DISCONNECT, self.namespace))
        self.close()

    def close(self) -> None:
        """Close the Engine.IO session (no Socket.IO DISCONNECT first) and wait for its
        ``on_close`` handlers, as when a client's connection drops."""
        self.connected = False
        if not self.session.closed:
            self._to_engine(eio.Packet(eio.CLOSE))
        deadline = time.monotonic() + self.timeout
        while self.session.state is not SessionState.CLOSED and time.monotonic() < deadline:
            gevent.sleep(0.001)
        self._drain()

    # -- the in-memory transport --------------------------------------------------------

    def _check_connected(self) -> None:
        if not self.connected:
            raise ConnectionClosed("the test client is not connected")

    def _to_server(self, packet: sio.Packet) -> None:
        frames = [msgpack_codec.encode(packet)] if self._msgpack else sio.encode(packet)
        for frame in frames:
            self._to_engine(eio.Packet(eio.MESSAGE, frame))

    def _to_engine(self, packet: eio.Packet) -> None:
        wire = eio.encode_packet(packet)
        try:
            self.session.receive_packet(eio.decode_packet(wire))
        except eio.ProtocolError:  # pragma: no cover - the client only sends valid packets
            log.exception("test client %s: the session refused a packet", self.session.id)

    def _on_push(self) -> None:
        # Called where the session queued frames (maybe in the event loop, maybe inside
        # a heartbeat's push): handle them on the loop's next turn.
        if not self._drain_scheduled:
            self._drain_scheduled = True
            gevent.get_hub().loop.run_callback(self._drain)

    def _drain(self) -> None:
        """Take and handle what the session queued for this client. Never blocks."""
        self._drain_scheduled = False
        while True:
            items = self.session.take_nowait()
            if items is None:
                self._ended()
                return
            if not items:
                return
            for item in items:
                self._from_engine(eio.decode_packet(item))

    def _from_engine(self, packet: eio.Packet) -> None:
        if packet.type == eio.PING:
            self.session.receive_packet(eio.Packet(eio.PONG))
        elif packet.type == eio.MESSAGE and packet.data is not None:
            decoded = self._decoder.feed(packet.data)
            if decoded is not None and decoded.namespace == self.namespace:
                self._from_socketio(decoded)

    def _from_socketio(self, packet: sio.Packet) -> None:
        ptype = packet.type
        if ptype == sio.CONNECT:
            self.connected = True
            self.sid = (packet.data or {}).get("sid")
            self._answered.set()
        elif ptype == sio.CONNECT_ERROR:
            self.refusal = packet.data
            self._answered.set()
            gevent.spawn(self.close)
        elif ptype == sio.DISCONNECT:
            self.connected = False
            gevent.spawn(self.close)  # the last socket of its manager: the engine closes
        elif ptype in (sio.EVENT, sio.BINARY_EVENT):
            self._received.append(tuple(packet.data))
            self._arrived.set()
            event, args = packet.data[0], packet.data[1:]
            handler = self.handlers.get(event)
            if handler is not None:
                gevent.spawn(self._run_handler, handler, args, packet.id)
            elif packet.id is not None and self.auto_ack:
                gevent.spawn(self._ack, packet.id, ())
        elif ptype in (sio.ACK, sio.BINARY_ACK) and packet.id is not None:
            result = self._acks.get(packet.id)
            if result is not None:
                result.set(packet.data)

    def _run_handler(self, handler: Callable[..., Any], args: List[Any],
                     ack_id: Optional[int]) -> None:
        value = handler(*args)
        if ack_id is not None:
            self._ack(ack_id, ack_args(value))

    def _ack(self, ack_id: int, args: Tuple[Any, ...]) -> None:
        if not self.session.closed:
            self._to_server(sio.Packet(sio.ACK, self.namespace, list(args), ack_id))

    def _ended(self) -> None:
        self.connected = False
        self._answered.set()
        if not self._gone:
            self._gone = True
            for result in self._acks.values():
                result.set_exception(ConnectionClosed("the connection closed before "
                                                      "acknowledging"))


def _router_of(target: Any, resource: Optional[str]) -> _Served:
    """The router of a Router, or of an Application (the one at ``resource``, or its
    only one)."""
    routers = getattr(target, "routers", None)
    if routers is None:
        return target
    if resource is not None:
        for router in routers:
            if router.resource == resource.strip("/"):
                return router
        raise ValueError("the application has no router at %r" % resource)
    if len(routers) != 1:
        raise ValueError("the application has %d routers: name one with resource="
                         % len(routers))
    return routers[0]


def _environ(resource: str, headers: Mapping[str, str], query: Mapping[str, str],
             remote_addr: str) -> Dict[str, Any]:
    """The WSGI environ of the request a socket.io-client 4.x WebSocket would open."""
    args = {"EIO": "4", "transport": "websocket", **query}
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/%s/" % resource, "SCRIPT_NAME": "",
        "QUERY_STRING": urlencode(args), "SERVER_NAME": "testclient", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": remote_addr, "wsgi.url_scheme": "http",
        "HTTP_HOST": "testclient", "HTTP_UPGRADE": "websocket", "HTTP_CONNECTION": "Upgrade",
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    return environ


__all__ = ["TestClient", "Received"]
