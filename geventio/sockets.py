"""The Socket.IO session (protocol v5 over Engine.IO v4, v4 over Engine.IO v3).

Namespaces, events, acknowledgements both ways and binary attachments, over one Engine.IO
session. The user's SocketConnection classes are the same ones 0.6 clients use.

Order guarantees: a connection's CONNECT answer is queued before anything its ``on_open``
sends (those sends are held until on_open returns); handlers run in the session's worker
greenlet one at a time; acknowledgements from the client are resolved at once (so a handler
blocked in ``call()`` is woken even though the worker is busy with it).
"""
from __future__ import annotations

import logging
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Type,
                    Union)
from urllib.parse import parse_qsl

import gevent

from .acks import DirectAck
from .adapters.base import RECOVERABLE_REASONS, BroadcastOptions, SavedSession
from .connection import (CLOSED, OPEN, OPENING, SocketConnection, ack_args,
                         call_on_open, fail_ack, find_any_handler,
                         find_handler, in_handler_context, report_error)
from .engine import EngineSession
from .exceptions import ConnectionRefused
from .hooks import pattern_matches, run_middlewares
from .protocol import msgpack_parser as msgpack_codec
from .protocol import socketio as sio
from .session import Item, new_session_id

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context
    from .request import Request

log = logging.getLogger(__name__)

MAX_PENDING_ACKS = 10_000


def encode_items(packet: sio.Packet) -> List[Item]:
    """A Socket.IO packet as outbound Engine.IO items: ``'4' + text`` then attachments."""
    frames = sio.encode(packet)
    items: List[Item] = ["4" + frames[0]]  # type: ignore[operator]
    items.extend(frames[1:])
    return items


class SocketIOSession(EngineSession):
    """A modern client: any number of namespace connections over one Engine.IO session."""

    # Decoding, acks and queuing jobs never block (a SocketConnection's constructor runs
    # here too: it must not block either).
    messages_never_block = True

    #: the packet codec (the ``parser`` setting): msgpack_session_class makes 'msgpack'
    parser = "default"
    #: a packet as outbound items (the parser's encoder; msgpack_session_class swaps it)
    _encode_items: Callable[[sio.Packet], List[Item]] = staticmethod(encode_items)

    __slots__ = ("sio", "connections", "_decoder", "_acks", "_next_ack", "_connect_timer",
                 "_closing_conns", "_held", "_recovery")

    def __init__(self, context: "Context", request: "Request", transport: str, eio_version: int,
                 b64: bool = False, extra: Optional[str] = None) -> None:
        super().__init__(context, request, transport, eio_version, b64)
        self.sio = 5 if eio_version == 4 else 4
        self.extra = extra
        self.connections: Dict[str, SocketConnection] = {}
        self._decoder = sio.Decoder(max_buffered=self.settings.binary_packet_limit)
        self._acks: Dict[int, Tuple[Callable[..., Any], str]] = {}
        self._next_ack = 0
        self._connect_timer: Optional[Any] = None  # a gevent loop timer
        #: connection -> what it sent while its on_open ran (None: no connection opening)
        self._held: Optional[Dict[SocketConnection, List[Item]]] = None
        #: the accepted connections whose on_close runs when the worker ends
        self._closing_conns: Sequence[SocketConnection] = ()
        #: connection state recovery for this session's connections (v5 clients only)
        self._recovery = (self.sio == 5 and context.adapter.recovers
                          and self.settings.connection_state_recovery is not None)

    # -- opening ------------------------------------------------------------------------

    def on_engine_open(self) -> None:
        if self.sio == 4:
            # v4: the server connects the client to "/" at once.
            self._connect("/", {}, "")
        else:
            self._connect_timer = self._loop.timer(self.settings.connect_timeout)
            self._connect_timer.start(self._connect_timeout)

    def _connect_timeout(self) -> None:
        if not self.connections and not self.closed:
            gevent.spawn(self._expire_connect)

    def _expire_connect(self) -> None:
        if not self.connections and not self.closed:
            log.info("session %s closed: no namespace connected within %s s", self.id,
                     self.settings.connect_timeout)
            self.close("connect timeout")

    def _connect(self, namespace: str, auth: Any, query: str) -> None:
        if self.sio == 4 and query:
            auth = dict(parse_qsl(query))
        if not isinstance(auth, dict):
            auth = {}
        cls = self.context.namespaces.get(namespace)
        if cls is None:
            cls = self._dynamic_namespace(namespace, auth)
        if cls is None:
            log.info("session %s: refused unknown namespace %r", self.id, namespace)
            # node answers an object here for both protocol revisions
            self.push(self._encode_items(sio.connect_error(namespace, "Invalid namespace")))
            return
        if namespace in self.connections:
            log.debug("session %s: already connected to %s", self.id, namespace)
            return
        if self._connect_timer is not None:
            self._connect_timer.stop()
            self._connect_timer = None
        try:
            # Runs where the packet was read, maybe in the event loop: a constructor must
            # not block (on_open, in the worker, may). One that fails refuses the client.
            conn = cls(self, namespace)
        except Exception:
            log.exception("session %s: creating %s for %s failed; refusing", self.id,
                          cls.__name__, namespace)
            self.push(self._encode_items(sio.connect_error(namespace, "Internal server error",
                                                           protocol=self.sio)))
            return
        if self._held is None:
            self._held = {}
        self._held[conn] = []
        self.connections[namespace] = conn
        self.run(self._open_connection, conn, auth)

    def _dynamic_namespace(self, namespace: str, auth: Dict[str, Any]
                           ) -> Optional[Type[SocketConnection]]:
        """The class of the first namespace pattern ``namespace`` matches, or None."""
        for pattern, cls in self.context.namespace_patterns:
            try:
                if pattern_matches(pattern, namespace, auth):
                    return cls
            except Exception:
                log.exception("session %s: namespace pattern %r raised for %r", self.id,
                              pattern, namespace)
        return None

    def _open_connection(self, conn: SocketConnection, auth: Dict[str, Any]) -> None:
        conn.auth = auth
        missed = self._recover(conn, auth) if self._recovery else []
        try:
            refusal = in_handler_context(conn, self._accept, conn, auth)
        except Exception:  # the connection's handler_context itself failed
            log.exception("session %s: the handler context of %s failed; refusing", self.id,
                          conn.namespace)
            refusal = ConnectionRefused("Internal server error")
        held_by = self._held
        held = held_by.pop(conn, []) if held_by else []
        if not held_by:
            self._held = None
        if self.closed or conn.is_closed:
            self.context.adapter.remove(conn)  # rooms on_open joined after the close
            return
        if refusal is not None:
            self.context.adapter.remove(conn)  # rooms on_open joined before refusing
            log.info("session %s: %s refused: %s", self.id, conn.namespace, refusal.message)
            conn.state = CLOSED
            self.connections.pop(conn.namespace, None)
            self.push(self._encode_items(sio.connect_error(conn.namespace, refusal.message,
                                                           refusal.data, protocol=self.sio)))
            return
        self.context.adapter.add(conn)
        ack = sio.connect_ack(conn.namespace, conn.session_id, protocol=self.sio,
                              pid=conn.private_id)
        self.push(self._encode_items(ack) + missed + held)
        conn.state = OPEN
        monitor = self.context.monitor
        if monitor is not None:
            monitor.connected(conn)

    def _accept(self, conn: SocketConnection, auth: Dict[str, Any]
                ) -> Optional[ConnectionRefused]:
        """Run the middlewares and ``on_open``; their refusal, or None (accepted)."""
        middlewares = self.context.middlewares
        refusal: Optional[ConnectionRefused] = None
        if middlewares and not conn.recovered:  # node's skipMiddlewares
            refusal = run_middlewares(middlewares, conn, self.request, auth)
        try:
            if refusal is None and call_on_open(conn, self.request, extra=self.extra,
                                                auth=auth) is False:
                refusal = ConnectionRefused("Connection refused")
        except ConnectionRefused as exc:
            refusal = exc
        except Exception:
            log.exception("session %s: on_open of %s raised; refusing", self.id, conn.namespace)
            refusal = ConnectionRefused("Internal server error")
        return refusal

    def _recover(self, conn: SocketConnection, auth: Dict[str, Any]) -> List[Item]:
        """Restore the state the client's ``pid`` and ``offset`` name (its id, rooms,
        ``data``), returning the missed packets as items; or give ``conn`` a new pid."""
        pid, offset = auth.get("pid"), auth.get("offset")
        restored = None
        if isinstance(pid, str) and isinstance(offset, str):
            try:
                restored = self.context.adapter.restore_session(conn.namespace, pid, offset)
            except Exception:
                log.exception("session %s: restoring %s failed; a new connection", self.id,
                              conn.namespace)
        if restored is None:
            conn.give_private_id(new_session_id())
            return []
        saved = restored.session
        conn.adopt(saved.sid, saved.pid, saved.data)
        for room in saved.rooms:
            self.context.adapter.join(conn, room)
        log.info("session %s: %s recovered as %s, %d missed packets", self.id,
                 conn.namespace, saved.sid, len(restored.missed))
        items: List[Item] = []
        for data in restored.missed:
            items.extend(self._encode_items(sio.Packet(sio.EVENT, conn.namespace, data)))
        return items

    # -- inbound ------------------------------------------------------------------------

    def on_engine_message(self, data: Union[str, bytes]) -> None:
        try:
            packet = self._decoder.feed(data)
        except sio.ProtocolError as exc:
            log.warning("session %s closed: malformed Socket.IO packet: %s", self.id, exc)
            self.close("parse error")
            return
        if packet is not None:
            self._handle(packet)

    def _handle(self, packet: sio.Packet) -> None:
        namespace, query = packet.namespace, ""
        if self.sio == 4 and "?" in namespace:
            namespace, query = sio.split_namespace(namespace)
        ptype = packet.type
        if ptype == sio.CONNECT:
            self._connect(namespace, packet.data or {}, query)
            return
        conn = self.connections.get(namespace)
        if ptype == sio.DISCONNECT:
            if conn is not None:
                self._drop(conn, "client namespace disconnect")
            return
        if conn is None:
            log.warning("session %s closed: %s packet for %s, which is not connected",
                        self.id, ptype.name, namespace)
            self.close("packet before CONNECT")
            return
        if ptype == sio.EVENT:
            self.run(self._dispatch if conn.handler_context is None else self._dispatch_within,
                     conn, packet.data, packet.id)
        elif ptype == sio.ACK:
            self._resolve_ack(packet.id, packet.data)
        else:
            log.warning("session %s closed: unexpected %s from the client", self.id, ptype.name)
            self.close("parse error")

    def _dispatch(self, conn: SocketConnection, data: List[Any], ack_id: Optional[int]) -> None:
        if conn.is_closed:
            return
        monitor = self.context.monitor
        if monitor is not None:
            monitor.event_received(conn, data)
        name, args = data[0], data[1:]
        handler = find_handler(conn, name)
        try:
            if handler is not None:
                value = handler(*args)
            elif name == "message":
                value = conn.on_message(args[0] if len(args) == 1 else tuple(args))
            else:
                handler = find_any_handler(conn)  # @event('*')
                if handler is None:
                    log.debug("session %s: no handler for event %r on %s", self.id, name,
                              conn.namespace)
                    return
                value = handler(name, *args)
        except Exception as exc:
            report_error(conn, exc, name, tuple(args))  # and no ack, as node
            return
        if ack_id is not None and not conn.is_closed:
            self.push(self._encode_items(sio.Packet(sio.ACK, conn.namespace,
                                                    list(ack_args(value)), ack_id)))

    def _dispatch_within(self, conn: SocketConnection, data: List[Any],
                         ack_id: Optional[int]) -> None:
        """``_dispatch`` inside the connection's ``handler_context``."""
        if not conn.is_closed:
            in_handler_context(conn, self._dispatch, conn, data, ack_id)

    def _resolve_ack(self, ack_id: Optional[int], data: Any) -> None:
        entry = self._acks.pop(ack_id, None) if ack_id is not None else None
        if entry is None:
            log.debug("session %s: ack %r matches no emit", self.id, ack_id)
            return
        callback, namespace = entry
        args = data if isinstance(data, list) else [data]
        if isinstance(callback, DirectAck):
            callback(*args)  # call() may be blocked on it, maybe in the worker itself
            return
        conn = self.connections.get(namespace)
        if conn is not None and conn.handler_context is not None:
            self.run(in_handler_context, conn, callback, *args)
        else:
            self.run(callback, *args)

    # -- outbound -----------------------------------------------------------------------

    @staticmethod
    def encode_message(message: Any, namespace: str = "/") -> List[Item]:
        items: List[Item] = []
        for m in (message if isinstance(message, (list, tuple)) else [message]):
            items.extend(encode_items(sio.Packet(sio.EVENT, namespace, ["message", m])))
        return items

    @staticmethod
    def encode_packets(packets: Sequence[sio.Packet]) -> List[Item]:
        """Socket.IO packets as outbound Engine.IO items, attachments included."""
        if len(packets) == 1:
            return encode_items(packets[0])
        items: List[Item] = []
        for packet in packets:
            items.extend(encode_items(packet))
        return items

    def push_for(self, conn: SocketConnection, items: List[Item]) -> None:
        """Queue items for one connection, held back while its on_open runs."""
        held_by = self._held  # None unless some connection's on_open is running
        if held_by is not None and conn.state is OPENING and conn in held_by:
            held_by[conn].extend(items)
        else:
            self.push(items)

    def send_message(self, conn: SocketConnection, message: Any) -> None:
        monitor = self.context.monitor
        if monitor is not None:
            for m in (message if isinstance(message, (list, tuple)) else [message]):
                monitor.event_sent(conn, ["message", m])
        if self._recovery and conn.state is OPEN:
            for m in (message if isinstance(message, (list, tuple)) else [message]):
                self._send_kept(conn, ["message", m])
            return
        self.push_for(conn, self.encode_message(message, conn.namespace))

    def _send_kept(self, conn: SocketConnection, data: List[Any]) -> None:
        """Send through the adapter, which keeps the packet and tags it with its offset
        (node sends a connection's own emits so when recovery is on)."""
        self.context.adapter.broadcast(conn.namespace, (sio.Packet(sio.EVENT, conn.namespace,
                                                                   data),),
                                       BroadcastOptions((conn.session_id,)))

    def send_event(self, conn: SocketConnection, event: str, args: Tuple[Any, ...],
                   callback: Optional[Callable[..., Any]] = None) -> None:
        monitor = self.context.monitor
        if monitor is not None:
            monitor.event_sent(conn, [event, *args])
        ack_id = None
        if callback is None and self._recovery and conn.state is OPEN:
            self._send_kept(conn, [event, *args])
            return
        if callback is not None:
            ack_id = self._next_ack
            self._next_ack += 1
            if len(self._acks) >= MAX_PENDING_ACKS:
                oldest = next(iter(self._acks))
                log.warning("session %s: %d acknowledgements pending; dropping the oldest",
                            self.id, MAX_PENDING_ACKS)
                fail_ack(self._acks.pop(oldest)[0])
            self._acks[ack_id] = (callback, conn.namespace)
        self.push_for(conn, self._encode_items(sio.Packet(sio.EVENT, conn.namespace,
                                                          [event, *args], ack_id)))

    def connection_id(self, namespace: str) -> Optional[str]:
        """v5: a fresh sid per namespace connection; v4: the session id on "/",
        ``<namespace>#<session id>`` elsewhere."""
        if self.sio == 5:
            return new_session_id()
        return None if namespace == "/" else "%s#%s" % (namespace, self.id)

    def check_acks_supported(self) -> None:
        return None

    def close_connection(self, conn: SocketConnection) -> None:
        """Server-side disconnect of one namespace: DISCONNECT, then on_close."""
        if conn.namespace in self.connections and not self.closed:
            self.push(self._encode_items(sio.Packet(sio.DISCONNECT, conn.namespace)))
        self._drop(conn, "server namespace disconnect")

    def _drop(self, conn: SocketConnection, reason: str) -> None:
        if self.connections.get(conn.namespace) is conn:
            del self.connections[conn.namespace]
        if conn.is_closed:
            return
        accepted = conn.state is OPEN
        conn.state = CLOSED
        self.context.adapter.remove(conn)
        for ack_id, (callback, namespace) in list(self._acks.items()):
            if namespace == conn.namespace:
                del self._acks[ack_id]
                fail_ack(callback)
        if accepted:
            monitor = self.context.monitor
            if monitor is not None:
                monitor.disconnected(conn, reason)
            self.run(in_handler_context, conn, conn.on_close)

    # -- closing ------------------------------------------------------------------------

    def close(self, reason: str = "server close", client: bool = False) -> None:
        if self.closed:
            return
        if self._connect_timer is not None:
            self._connect_timer.stop()
            self._connect_timer = None
        self._closing_conns = [c for c in self.connections.values() if c.state is OPEN]
        if self._recovery and reason in RECOVERABLE_REASONS:
            self._persist(self._closing_conns)
        for conn in list(self.connections.values()):
            conn.state = CLOSED
            self.context.adapter.remove(conn)
        self.connections.clear()
        monitor = self.context.monitor
        if monitor is not None:
            for conn in self._closing_conns:
                monitor.disconnected(conn, reason)
        for callback, _ns in self._acks.values():
            fail_ack(callback)
        self._acks.clear()
        super().close(reason, client)

    def _persist(self, conns: Sequence[SocketConnection]) -> None:
        """Keep the state of ``conns`` for recovery (a failure is logged, never raised)."""
        for conn in conns:
            if conn.private_id is None:
                continue
            try:
                self.context.adapter.persist_session(conn.namespace, SavedSession(
                    conn.session_id, conn.private_id, sorted(conn.rooms), conn.data))
            except Exception:
                log.exception("session %s: %s could not be kept for recovery", self.id,
                              conn.namespace)

    def on_closed(self) -> None:
        for conn in self._closing_conns:
            try:
                in_handler_context(conn, conn.on_close)
            except Exception:
                log.exception("session %s: on_close of %s raised", self.id, conn.namespace)


# -- node's socket.io-msgpack-parser ------------------------------------------------------

def _msgpack_items(packet: sio.Packet) -> List[Item]:
    """A packet as one binary Engine.IO message (protocol/msgpack_parser.py)."""
    return [msgpack_codec.encode(packet)]


_MSGPACK_CLASSES: Dict[type, type] = {}


def msgpack_session_class(base: Type[SocketIOSession]) -> Type[SocketIOSession]:
    """``base`` speaking node's socket.io-msgpack-parser 3.0.x (one class per base, so a
    broadcast still encodes once per session class, that is per (class, parser))."""
    cls = _MSGPACK_CLASSES.get(base)
    if cls is None:
        def __init__(self: SocketIOSession, *args: Any, **kwargs: Any) -> None:
            base.__init__(self, *args, **kwargs)
            self._decoder = msgpack_codec.Decoder()  # type: ignore[assignment]

        def encode_message(message: Any, namespace: str = "/") -> List[Item]:
            return [msgpack_codec.encode(sio.Packet(sio.EVENT, namespace, ["message", m]))
                    for m in (message if isinstance(message, (list, tuple)) else [message])]

        def encode_packets(packets: Sequence[sio.Packet]) -> List[Item]:
            return [msgpack_codec.encode(packet) for packet in packets]

        cls = type("Msgpack" + base.__name__, (base,), {
            "__slots__": (), "parser": "msgpack", "__init__": __init__,
            "__module__": base.__module__,
            "_encode_items": staticmethod(_msgpack_items),
            "encode_message": staticmethod(encode_message),
            "encode_packets": staticmethod(encode_packets),
        })
        _MSGPACK_CLASSES[base] = cls
    return cls
