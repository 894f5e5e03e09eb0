"""ClusterAdapter: node's generic cluster protocol (socket.io-adapter's ``ClusterAdapter``).

The in-memory index, plus the messages of :mod:`geventio.protocol.cluster_wire` (types
3-12) to and from the other servers. A subclass carries them: ``do_publish(message)``
(returns the stored message's offset, or "" when it is not stored),
``do_publish_response(requester_uid, response)`` and ``server_count``, and hands what it
reads to :meth:`ClusterAdapter.on_message`. The Redis streams adapter is one;
:class:`ClusterAdapterWithHeartbeat` counts the servers by heartbeats for a transport that
cannot (the AMQP adapter).

A namespace created from a pattern is listened to while it has a local connection or a
request of ours waits for answers about it (:class:`~geventio.adapters.namespaces.
NamespaceBook`); the subclass's ``do_listen`` / ``do_unlisten`` / ``do_wait_listening``
start and stop receiving its messages. Messages of a namespace not listened to are ignored.

With connection state recovery on, a broadcast's offset (what ``do_publish`` returned, or
the one a received message came with) is appended to the event for the connections that
recover, as node's ``addOffsetIfNecessary`` does.
"""
from __future__ import annotations

import logging
import time
from abc import abstractmethod
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence,
                    Set, Tuple)

import gevent

from ..protocol import cluster_wire as cw
from ..protocol.cluster_wire import MessageType
from ..protocol.socketio import EVENT, Packet
from .base import BroadcastOptions
from .listening import ListeningAdapter
from .memory import InMemoryAdapter
from .remote import RemoteConnection, describe
from .requests import Pending, RequestBook

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

log = logging.getLogger(__name__)

#: the uid of node's emitters, which are not servers (not counted)
EMITTER_UID = "emitter"


class ClusterAdapter(ListeningAdapter):
    """The local index plus node's cluster messages; the transport is the subclass's."""

    __slots__ = ("uid", "_context", "_window", "_requests", "_closed")

    def __init__(self, requests_timeout: float = 5.0) -> None:
        super().__init__(requests_timeout)
        #: this process's id on the wire
        self.uid = cw.new_id()
        self._context: Optional["Context"] = None
        #: the recovery window (None: recovery off, no offsets)
        self._window: Optional[float] = None
        #: our requests to the other servers and our acked broadcasts
        self._requests = RequestBook()
        self._closed = False

    # -- the transport (the subclass's) ---------------------------------------------------

    @abstractmethod
    def do_publish(self, message: Dict[str, Any]) -> str:
        """Send ``message`` to the other servers; its offset if it is stored, else ""."""

    @abstractmethod
    def do_publish_response(self, requester_uid: str, response: Dict[str, Any]) -> None:
        """Send a response to the server ``requester_uid`` only."""

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, context: Optional["Context"] = None) -> None:
        self._context = context
        if context is not None:
            self.serve(context.namespaces)
            if self.recovers:
                self._window = context.settings.connection_state_recovery

    def close(self) -> None:
        self._closed = True
        self._requests.close()

    def _publish(self, namespace: str, kind: MessageType,
                 data: Optional[Dict[str, Any]] = None) -> str:
        try:
            return self.do_publish(cw.message(self.uid, namespace, kind, data))
        except Exception as exc:
            log.warning("a %s message could not reach the other servers: %s", kind.name, exc)
            return ""

    def _respond(self, request: Dict[str, Any], kind: MessageType,
                 data: Dict[str, Any]) -> None:
        response = cw.message(self.uid, request.get("nsp") or "/", kind, data)
        try:
            self.do_publish_response(str(request.get("uid")), response)
        except Exception as exc:
            log.warning("a %s response could not be sent: %s", kind.name, exc)

    # -- broadcasts ----------------------------------------------------------------------

    def broadcast(self, namespace: str, packets: Sequence[Packet],
                  opts: BroadcastOptions) -> int:
        if opts.local:
            return super().broadcast(namespace, packets, opts)
        flags = {"volatile": True} if opts.volatile else {}
        except_rooms = opts.all_except_rooms()
        count = 0
        for packet in packets:
            offset = self._publish(namespace, MessageType.BROADCAST, {
                "packet": {"type": EVENT, "data": list(packet.data)},
                "opts": cw.opts(opts.rooms, except_rooms, flags)})
            count = self._deliver(namespace, packet, opts, offset)
        return count

    def _deliver(self, namespace: str, packet: Packet, opts: BroadcastOptions,
                 offset: str) -> int:
        """``packet`` to the local connections ``opts`` addresses, encoded once per session
        class; with ``offset`` appended for those that recover (recovery on, the packet
        neither volatile nor acknowledged). A generation that cannot carry it (bytes to a
        0.6 client) is logged and skipped."""
        targets = self.select(namespace, opts)
        if opts.volatile:
            targets = [c for c in targets if not c.session.pending]
        tag = bool(offset) and self._window is not None and not opts.volatile \
            and packet.id is None
        tagged = Packet(EVENT, namespace, [*packet.data, offset]) if tag else packet
        encoded: Dict[Tuple[type, bool], Optional[list]] = {}
        for conn in targets:
            session = conn.session
            key = (type(session), tag and conn.private_id is not None)
            if key in encoded:
                items = encoded[key]
            else:
                try:
                    items = encoded[key] = key[0].encode_packets((tagged if key[1]
                                                                  else packet,))
                except Exception as exc:
                    items = encoded[key] = None
                    log.warning("a broadcast cannot reach %s clients (%s: %s)",
                                key[0].__name__, type(exc).__name__, exc)
            if items is not None:
                session.push_for(conn, items)
        return len(targets)

    def broadcast_with_ack(self, namespace: str, packet: Packet, opts: BroadcastOptions,
                           timeout: float, client_count: Callable[[int], None],
                           ack: Callable[[Any], None]) -> None:
        if not opts.local:
            # the answers come for its namespace: what waiting to receive it took comes
            # out of the timeout
            left = self._hold(namespace, timeout)
            timeout = timeout if left is None else left
            gevent.spawn_later(timeout, self._release, namespace)
            request_id = cw.new_id()
            self._requests.expect_acks(request_id, (client_count, ack), timeout)
            self._publish(namespace, MessageType.BROADCAST, {
                "packet": {"type": EVENT, "data": list(packet.data)},
                "requestId": request_id,
                "opts": cw.opts(opts.rooms, opts.all_except_rooms(),
                                {"timeout": max(1, int(timeout * 1000))})})
        super().broadcast_with_ack(namespace, packet, opts, timeout, client_count, ack)

    # -- operations on every server ------------------------------------------------------

    def _request(self, namespace: str, kind: MessageType, data: Dict[str, Any],
                 timeout: Optional[float]) -> Optional[Pending]:
        """Publish a request and wait for every other server's response (or the
        timeout); None when there is nobody to ask."""
        expected = self.server_count(namespace) - 1
        if expected <= 0:
            return None
        request_id = cw.new_id()
        return self._requests.ask(
            request_id, kind, expected,
            lambda: self._publish(namespace, kind, dict(data, requestId=request_id)),
            self.requests_timeout if timeout is None else timeout)

    def fetch_connections(self, namespace: str, opts: BroadcastOptions,
                          timeout: Optional[float] = None) -> List[Any]:
        found: List[Any] = list(self.select(namespace, opts))
        if opts.local:
            return found
        with self._holding(namespace, timeout) as left:
            pending = self._request(namespace, MessageType.FETCH_SOCKETS, {
                "opts": cw.opts(opts.rooms, opts.all_except_rooms())}, left)
        for entry in pending.items if pending is not None else ():
            try:
                found.append(RemoteConnection.from_wire(self, namespace, entry))
            except ValueError:
                log.debug("ignored a malformed fetched socket %r", entry)
        return found

    def all_rooms(self, namespace: str, timeout: Optional[float] = None) -> Set[str]:
        """Every room: node's cluster protocol has no such request, so the rooms of
        every connection a fetch finds (their own id rooms included)."""
        rooms = self.rooms(namespace)
        for conn in self.fetch_connections(namespace, BroadcastOptions(), timeout):
            if isinstance(conn, RemoteConnection):
                rooms.update(conn.rooms)
        return rooms

    def add_rooms(self, namespace: str, opts: BroadcastOptions, rooms: Any) -> None:
        rooms = list(rooms)
        if not opts.local:
            self._publish(namespace, MessageType.SOCKETS_JOIN, {
                "opts": cw.opts(opts.rooms, opts.all_except_rooms()), "rooms": rooms})
        super().add_rooms(namespace, opts, rooms)

    def del_rooms(self, namespace: str, opts: BroadcastOptions, rooms: Any) -> None:
        rooms = list(rooms)
        if not opts.local:
            self._publish(namespace, MessageType.SOCKETS_LEAVE, {
                "opts": cw.opts(opts.rooms, opts.all_except_rooms()), "rooms": rooms})
        super().del_rooms(namespace, opts, rooms)

    def disconnect_connections(self, namespace: str, opts: BroadcastOptions,
                               close: bool = False) -> None:
        if not opts.local:
            self._publish(namespace, MessageType.DISCONNECT_SOCKETS, {
                "opts": cw.opts(opts.rooms, opts.all_except_rooms()), "close": bool(close)})
        super().disconnect_connections(namespace, opts, close)

    def server_side_emit(self, namespace: str, data: List[Any],
                         callback: Optional[Callable[[List[Any]], None]] = None,
                         timeout: Optional[float] = None) -> None:
        if callback is None:
            self._publish(namespace, MessageType.SERVER_SIDE_EMIT, {"packet": list(data)})
            return

        def gather() -> None:
            with self._holding(namespace, timeout) as left:
                pending = self._request(namespace, MessageType.SERVER_SIDE_EMIT,
                                        {"packet": list(data)}, left)
            callback(list(pending.items) if pending is not None else [])
        gevent.spawn(gather)

    # -- what the others send ------------------------------------------------------------

    def on_message(self, message: Dict[str, Any], offset: str = "") -> None:
        """A message read by the transport (``offset``: its stream id, if stored)."""
        if message.get("uid") == self.uid or not self.listens_to(message.get("nsp")):
            return
        kind = message.get("type")
        data = message.get("data")
        if not isinstance(data, dict):
            data = {}
        if kind in cw.RESPONSES:
            self.on_response(message)
            return
        namespace = str(message["nsp"])
        rooms, except_rooms, flags = cw.read_opts(data)
        opts = BroadcastOptions(rooms or None, except_rooms, local=True,
                                volatile=bool(flags.get("volatile")))
        if kind == MessageType.BROADCAST:
            self._on_broadcast(message, data, opts, flags, offset)
        elif kind == MessageType.SOCKETS_JOIN:
            InMemoryAdapter.add_rooms(self, namespace, opts, data.get("rooms") or ())
        elif kind == MessageType.SOCKETS_LEAVE:
            InMemoryAdapter.del_rooms(self, namespace, opts, data.get("rooms") or ())
        elif kind == MessageType.DISCONNECT_SOCKETS:
            InMemoryAdapter.disconnect_connections(self, namespace, opts,
                                                   bool(data.get("close")))
        elif kind == MessageType.FETCH_SOCKETS:
            self._respond(message, MessageType.FETCH_SOCKETS_RESPONSE, {
                "requestId": data.get("requestId"),
                "sockets": [describe(c) for c in self.select(namespace, opts)]})
        elif kind == MessageType.SERVER_SIDE_EMIT:
            gevent.spawn(self._on_server_side_emit, message, data)

    def _on_broadcast(self, message: Dict[str, Any], data: Dict[str, Any],
                      opts: BroadcastOptions, flags: Dict[str, Any], offset: str) -> None:
        packet_data = (data.get("packet") or {}).get("data")
        if not isinstance(packet_data, list) or not packet_data:
            return
        namespace = str(message["nsp"])
        packet = Packet(EVENT, namespace, packet_data)
        request_id = data.get("requestId")
        if request_id is None:
            self._deliver(namespace, packet, opts, offset)
            return

        def count(n: int) -> None:
            self._respond(message, MessageType.BROADCAST_CLIENT_COUNT,
                          {"requestId": request_id, "clientCount": n})

        def acked(value: Any) -> None:
            self._respond(message, MessageType.BROADCAST_ACK,
                          {"requestId": request_id, "packet": value})
        timeout = float(flags.get("timeout") or self.requests_timeout * 1000) / 1000
        InMemoryAdapter.broadcast_with_ack(self, namespace, packet, opts, timeout, count, acked)

    def _on_server_side_emit(self, message: Dict[str, Any], data: Dict[str, Any]) -> None:
        packet = data.get("packet")
        if not isinstance(packet, list) or not packet or not isinstance(packet[0], str):
            return
        handlers = self._context.server_events if self._context is not None else {}
        handler = handlers.get((str(message.get("nsp")), packet[0]))
        answer = None
        if handler is None:
            log.debug("no @server_event handler for %r on %s", packet[0], message.get("nsp"))
        else:
            try:
                answer = handler(*packet[1:])
            except Exception:
                log.exception("@server_event handler of %r raised", packet[0])
        if data.get("requestId") is not None:
            self._respond(message, MessageType.SERVER_SIDE_EMIT_RESPONSE,
                          {"requestId": data["requestId"], "packet": answer})

    def on_response(self, response: Dict[str, Any]) -> None:
        """A response to one of our requests."""
        data = response.get("data")
        if not isinstance(data, dict):
            return
        request_id = data.get("requestId")
        kind = response.get("type")
        if self._requests.broadcast_answer(
                request_id, kind == MessageType.BROADCAST_CLIENT_COUNT,
                kind == MessageType.BROADCAST_ACK, data.get("clientCount"),
                data.get("packet")):
            return
        pending = self._requests.pending(request_id)
        if pending is None:
            return
        if kind == MessageType.FETCH_SOCKETS_RESPONSE:
            sockets = data.get("sockets")
            pending.answered(sockets if isinstance(sockets, list) else ())
        elif kind == MessageType.SERVER_SIDE_EMIT_RESPONSE:
            pending.answered((data.get("packet"),))


class ClusterAdapterWithHeartbeat(ClusterAdapter):
    """A ClusterAdapter over a transport with no subscriber count: the servers are counted
    by heartbeats, per namespace, as node's ``ClusterAdapterWithHeartbeat`` (one per
    namespace) does. The subclass calls :meth:`begin_heartbeats` once its subscription is
    in place (and again after each reconnect), and :meth:`announce` once a namespace created
    from a pattern is received: INITIAL_HEARTBEAT, which the others that listen to that
    namespace answer with a HEARTBEAT; then a HEARTBEAT every ``heartbeat_interval``. A
    server heard from in a namespace within ``heartbeat_timeout`` (any message counts) is a
    member there; :meth:`close` (and a namespace no longer listened to) sends
    ADAPTER_CLOSE."""

    __slots__ = ("heartbeat_interval", "heartbeat_timeout", "_nodes", "_beater")

    def __init__(self, requests_timeout: float = 5.0, heartbeat_interval: float = 5.0,
                 heartbeat_timeout: float = 10.0) -> None:
        super().__init__(requests_timeout)
        self.heartbeat_interval = float(heartbeat_interval)
        self.heartbeat_timeout = float(heartbeat_timeout)
        #: namespace -> uid -> when (monotonic) we last heard from that server there
        self._nodes: Dict[str, Dict[str, float]] = {}
        self._beater: Optional[gevent.Greenlet] = None

    def begin_heartbeats(self) -> None:
        """Announce this server (INITIAL_HEARTBEAT in every namespace) and keep beating."""
        for namespace in self.namespaces:
            self.announce(namespace)
        if self._beater is None and not self._closed:
            self._beater = gevent.spawn(self._beat)

    def announce(self, namespace: str) -> None:
        """INITIAL_HEARTBEAT in ``namespace``: the servers listening to it answer."""
        self._publish(namespace, MessageType.INITIAL_HEARTBEAT)

    def do_unlisten(self, namespace: str) -> None:
        self._nodes.pop(namespace, None)
        self._publish(namespace, MessageType.ADAPTER_CLOSE)

    def _beat(self) -> None:
        while not self._closed:
            gevent.sleep(self.heartbeat_interval)
            if self._closed:
                break
            for namespace in self.namespaces:
                self._publish(namespace, MessageType.HEARTBEAT)
            self._expire()

    def _expire(self) -> None:
        deadline = time.monotonic() - self.heartbeat_timeout
        for namespace, nodes in list(self._nodes.items()):
            for uid, seen in list(nodes.items()):
                if seen < deadline:
                    del nodes[uid]
                    log.info("server %s missed its heartbeats in %s for %.1f s: no longer "
                             "counted", uid, namespace, self.heartbeat_timeout)

    def server_count(self, namespace: str = "/") -> int:
        self._expire()
        return 1 + len(self._nodes.get(namespace, ()))

    def close(self) -> None:
        if self._closed:
            return
        for namespace in self.namespaces:
            self._publish(namespace, MessageType.ADAPTER_CLOSE)
        super().close()
        if self._beater is not None:
            self._beater.kill(block=False)

    def on_message(self, message: Dict[str, Any], offset: str = "") -> None:
        uid = message.get("uid")
        namespace = message.get("nsp")
        if not isinstance(uid, str) or uid == self.uid or not isinstance(namespace, str) \
                or not self.listens_to(namespace):
            return
        kind = message.get("type")
        nodes = self._nodes.setdefault(namespace, {})
        if kind == MessageType.ADAPTER_CLOSE:
            if nodes.pop(uid, None) is not None:
                log.info("server %s left %s", uid, namespace)
            return
        if uid != EMITTER_UID:
            if uid not in nodes:
                log.info("server %s joined %s", uid, namespace)
            nodes[uid] = time.monotonic()
        if kind == MessageType.INITIAL_HEARTBEAT:
            self._publish(namespace, MessageType.HEARTBEAT)
            return
        if kind == MessageType.HEARTBEAT:
            return
        super().on_message(message, offset)
