"""RedisAdapter: rooms and broadcasts shared by many processes over Redis pub/sub.

Wire-compatible with node's ``@socket.io/redis-adapter`` 8.x (classic pub/sub; the format is
:mod:`geventio.protocol.redis_wire`), so geventio processes and node socket.io servers can
share one Redis, one set of rooms and one set of requests.

Per process, one :class:`~geventio.adapters.redis_link.RedisLink`: a subscriber greenlet
(PSUBSCRIBE ``{key}#{nsp}#*``, SUBSCRIBE the request and response channels of every
namespace) resubscribing with backoff when Redis goes away, and a publisher greenlet
draining a bounded queue in order, so a process's broadcasts and requests reach Redis in the
order they were made and a caller never waits for Redis to publish. Messages from
other servers are delivered to local clients from the subscriber greenlet (delivery only
queues frames: it never blocks); whatever may block (a server-side event handler) runs in a
greenlet of its own. Pub/sub is at-most-once: what is published while Redis is unreachable is
logged and lost.

redis-py is a blocking library: it cooperates with gevent only on a monkey-patched ``socket``
module, so :meth:`RedisAdapter.start` refuses to run without it.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Set

import gevent

from ..protocol import redis_wire as wire
from ..protocol.redis_wire import RequestType
from ..protocol.socketio import EVENT, Packet
from .base import BroadcastOptions
from .requests import Pending, RequestBook
from .listening import ListeningAdapter
from .memory import InMemoryAdapter
from .redis_link import RedisLink
from .remote import RemoteConnection, describe

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

log = logging.getLogger(__name__)

class RedisAdapter(ListeningAdapter):
    """The local index of :class:`InMemoryAdapter`, plus Redis pub/sub to the other servers
    (geventio or node) sharing ``key``. ``requests_timeout``: how long requests to the others
    wait (seconds). Other keyword arguments go to ``redis.Redis.from_url``."""

    __slots__ = ("url", "key", "uid", "_options", "_redis", "_client",
                 "_channels", "_by_pattern", "_by_channel", "_requests",
                 "_link", "_context", "_closed")

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", key: str = "socket.io",
                 requests_timeout: float = 5.0, **redis_options: Any) -> None:
        super().__init__(requests_timeout)
        wire.require_msgpack()
        try:
            import redis
        except ImportError:
            raise ImportError("geventio.RedisAdapter needs redis-py and msgpack: "
                              "pip install 'geventio[redis]'") from None
        self._redis = redis
        self.url = url
        self.key = key
        #: this process's id on the wire (node: one per namespace adapter)
        self.uid = wire.new_uid()
        # No socket_timeout: the subscriber's connection waits for messages indefinitely.
        options: Dict[str, Any] = {"protocol": 2, "socket_keepalive": True,
                                   "socket_connect_timeout": 5.0,
                                   "health_check_interval": 30}
        options.update(redis_options)
        self._options = options
        self._channels: Dict[str, wire.Channels] = {}
        self._by_pattern: Dict[str, wire.Channels] = {}
        self._by_channel: Dict[str, wire.Channels] = {}
        #: our requests to the other servers and our acked broadcasts
        self._requests = RequestBook()
        #: the pub/sub connection (None until start)
        self._link: Optional[RedisLink] = None
        self._context: Optional["Context"] = None
        self._closed = False

    def __repr__(self) -> str:
        return "<RedisAdapter %s key=%r uid=%s>" % (self.url.rpartition("@")[2], self.key,
                                                   self.uid)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, context: Optional["Context"] = None) -> None:
        self._context = context
        if context is not None:
            self.serve(context.namespaces)
        for namespace in self.namespaces:
            self._add_namespace(namespace)
        self._link = RedisLink(self._redis, self.url, self._options, list(self._by_pattern),
                               list(self._by_channel), self._on_redis_message)
        self._link.start()

    def _add_namespace(self, namespace: str) -> wire.Channels:
        channels = wire.Channels(self.key, namespace)
        self._channels[namespace] = channels
        self._by_pattern[channels.pattern] = channels
        for channel in self._subscribed_channels(channels):
            self._by_channel[channel] = channels
        return channels

    def _subscribed_channels(self, channels: wire.Channels) -> List[str]:
        return [channels.request, channels.response, channels.specific_response(self.uid)]

    def do_listen(self, namespace: str) -> None:
        channels = self._add_namespace(namespace)
        if self._link is not None:
            self._link.subscribe((channels.pattern,), self._subscribed_channels(channels))
        log.debug("subscribed to namespace %s", namespace)

    def do_unlisten(self, namespace: str) -> None:
        channels = self._channels.pop(namespace, None)
        if channels is None:
            return
        self._by_pattern.pop(channels.pattern, None)
        names = self._subscribed_channels(channels)
        for channel in names:
            self._by_channel.pop(channel, None)
        if self._link is not None:
            self._link.unsubscribe((channels.pattern,), names)
        log.debug("unsubscribed from namespace %s", namespace)

    def do_wait_listening(self, namespace: str, timeout: float) -> bool:
        channels = self._channels.get(namespace)
        link = self._link
        return channels is None or link is None or \
            link.wait_confirmed(self._subscribed_channels(channels), timeout)

    def _channels_of(self, namespace: str) -> wire.Channels:
        """The channels of ``namespace``, subscribed to or not (publishing needs none)."""
        return self._channels.get(namespace) or wire.Channels(self.key, namespace)

    @property
    def running(self) -> bool:
        """Whether the pub/sub greenlets are alive (started and not closed)."""
        return self._link is not None and self._link.running

    def wait_subscribed(self, timeout: Optional[float] = None) -> bool:
        """Block until the subscriber is subscribed (True), or ``timeout`` passed."""
        link = self._link
        return link is not None and link.wait_subscribed(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._link is not None:
            self._link.close()
        self._requests.close()

    def _publish(self, channel: str, body: bytes) -> None:
        """Queue one PUBLISH (never blocks; dropped before start and after close)."""
        if self._link is not None and not self._closed:
            self._link.publish(channel, body)

    def _on_redis_message(self, pattern: Optional[str], channel: str, data: bytes) -> None:
        if pattern is not None:
            channels = self._by_pattern.get(pattern)
            if channels is not None:
                self._on_broadcast(channels, channel, data)
            return
        channels = self._by_channel.get(channel)
        if channels is None:
            return
        if channel == channels.request:
            self._on_request(channels, data)
        else:
            self._on_response(data)

    # -- broadcasts ----------------------------------------------------------------------

    def broadcast(self, namespace: str, packets: Sequence[Packet],
                  opts: BroadcastOptions) -> int:
        if not opts.local:
            rooms = list(opts.rooms or ())
            except_rooms = opts.all_except_rooms()
            flags = {"volatile": True} if opts.volatile else {}
            channel = self._channels_of(namespace).for_rooms(rooms)
            for packet in packets:
                self._publish(channel, wire.encode_broadcast(
                    self.uid, namespace, packet.data, rooms, except_rooms, flags))
        return super().broadcast(namespace, packets, opts)

    def _on_broadcast(self, channels: wire.Channels, channel: str, body: bytes) -> None:
        room = channels.room_of(channel)
        namespace = channels.namespace
        if room is None or (room and (namespace, room) not in self._members):
            return  # node's rule: a room channel counts only where the room exists
        message = wire.decode_broadcast(body)
        if message.uid == self.uid or message.namespace != namespace:
            return
        opts = BroadcastOptions(message.rooms or None, message.except_rooms,
                                volatile=bool(message.flags.get("volatile")))
        self._deliver(namespace, (Packet(EVENT, namespace, message.data),), opts)

    def _deliver(self, namespace: str, packets: Sequence[Packet],
                 opts: BroadcastOptions) -> None:
        """Another server's broadcast to the local connections ``opts`` addresses, encoded
        once per session class. A generation that cannot carry it (bytes to a 0.6 client)
        is logged and skipped; the others still get it."""
        targets = self.select(namespace, opts)
        if opts.volatile:
            targets = [c for c in targets if not c.session.pending]
        encoded: Dict[type, Optional[list]] = {}
        for conn in targets:
            session = conn.session
            cls = type(session)
            if cls in encoded:
                items = encoded[cls]
            else:
                try:
                    items = encoded[cls] = cls.encode_packets(packets)
                except Exception as exc:
                    items = encoded[cls] = None
                    log.warning("a broadcast from another server cannot reach %s clients "
                                "(%s: %s)", cls.__name__, type(exc).__name__, exc)
            if items is not None:
                session.push_for(conn, items)

    def broadcast_with_ack(self, namespace: str, packet: Packet, opts: BroadcastOptions,
                           timeout: float, client_count: Callable[[int], None],
                           ack: Callable[[Any], None]) -> None:
        if not opts.local:
            # answers come to its response channel: what waiting for its subscription took
            # comes out of the timeout
            left = self._hold(namespace, timeout)
            timeout = timeout if left is None else left
            gevent.spawn_later(timeout, self._release, namespace)
            channels = self._channels_of(namespace)
            request_id = wire.new_uid()
            self._requests.expect_acks(request_id, (client_count, ack), timeout)
            flags: Dict[str, Any] = {"timeout": max(1, int(timeout * 1000))}
            self._publish(channels.request, wire.encode_request({
                "uid": self.uid, "requestId": request_id, "type": int(RequestType.BROADCAST),
                "packet": {"type": EVENT, "data": packet.data, "nsp": namespace},
                "opts": {"rooms": list(opts.rooms or ()), "except": opts.all_except_rooms(),
                         "flags": flags}}))
        super().broadcast_with_ack(namespace, packet, opts, timeout, client_count, ack)

    # -- requests to the others ----------------------------------------------------------

    def server_count(self, namespace: str = "/") -> int:
        """The servers subscribed to ``namespace``'s requests, and this one (which is not
        while a dynamic namespace has no connection here)."""
        if self._link is None:
            return 1
        try:
            counts = self._link.client.pubsub_numsub(self._channels_of(namespace).request)
        except Exception as exc:
            log.warning("Redis unreachable (%s): counting this server only", exc)
            return 1
        others = 0 if self.listens_to(namespace) else 1
        return max(1, int(counts[0][1]) + others) if counts else 1

    def _request(self, namespace: str, kind: RequestType, expected: int,
                 fields: Dict[str, Any], timeout: Optional[float]) -> Optional[Pending]:
        """Publish a request and wait for ``expected`` responses (or the timeout): the
        pending request with what came; None when there was nobody to ask."""
        channels = self._channels.get(namespace)
        if channels is None or expected <= 0:
            return None
        request_id = wire.new_uid()
        message = {"uid": self.uid, "requestId": request_id, "type": int(kind)}
        message.update(fields)
        return self._requests.ask(
            request_id, kind, expected,
            lambda: self._publish(channels.request, wire.encode_request(message)),
            self.requests_timeout if timeout is None else timeout)

    def fetch_connections(self, namespace: str, opts: BroadcastOptions,
                          timeout: Optional[float] = None) -> List[Any]:
        found: List[Any] = list(self.select(namespace, opts))
        if opts.local:
            return found
        with self._holding(namespace, timeout) as left:
            pending = self._request(namespace, RequestType.REMOTE_FETCH,
                                    self.server_count(namespace) - 1,
                                    {"opts": wire.request_opts(opts.rooms or (),
                                                               opts.all_except_rooms())},
                                    left)
        if pending is not None:
            for entry in pending.items:
                try:
                    found.append(RemoteConnection.from_wire(self, namespace, entry))
                except ValueError:
                    log.debug("ignored a malformed fetched socket %r", entry)
        return found

    def all_rooms(self, namespace: str, timeout: Optional[float] = None) -> Set[str]:
        rooms = self.rooms(namespace)
        with self._holding(namespace, timeout) as left:
            pending = self._request(namespace, RequestType.ALL_ROOMS,
                                    self.server_count(namespace) - 1, {}, left)
        if pending is not None:
            rooms.update(r for r in pending.items if isinstance(r, str))
        return rooms

    def _fire(self, namespace: str, message: Dict[str, Any]) -> None:
        message = {"uid": self.uid, **message}
        self._publish(self._channels_of(namespace).request, wire.encode_request(message))

    def add_rooms(self, namespace: str, opts: BroadcastOptions, rooms: Any) -> None:
        rooms = list(rooms)
        if not opts.local:
            self._fire(namespace, {"type": int(RequestType.REMOTE_JOIN), "opts": wire.request_opts(
                opts.rooms or (), opts.all_except_rooms()), "rooms": rooms})
        super().add_rooms(namespace, opts, rooms)

    def del_rooms(self, namespace: str, opts: BroadcastOptions, rooms: Any) -> None:
        rooms = list(rooms)
        if not opts.local:
            self._fire(namespace, {"type": int(RequestType.REMOTE_LEAVE),
                                   "opts": wire.request_opts(opts.rooms or (),
                                                             opts.all_except_rooms()),
                                   "rooms": rooms})
        super().del_rooms(namespace, opts, rooms)

    def disconnect_connections(self, namespace: str, opts: BroadcastOptions,
                               close: bool = False) -> None:
        if not opts.local:
            self._fire(namespace, {"type": int(RequestType.REMOTE_DISCONNECT),
                                   "opts": wire.request_opts(opts.rooms or (),
                                                             opts.all_except_rooms()),
                                   "close": bool(close)})
        super().disconnect_connections(namespace, opts, close)

    def server_side_emit(self, namespace: str, data: List[Any],
                         callback: Optional[Callable[[List[Any]], None]] = None,
                         timeout: Optional[float] = None) -> None:
        if callback is None:
            self._fire(namespace, {"type": int(RequestType.SERVER_SIDE_EMIT), "data": data})
            return

        def gather() -> None:
            with self._holding(namespace, timeout) as left:
                pending = self._request(namespace, RequestType.SERVER_SIDE_EMIT,
                                        self.server_count(namespace) - 1, {"data": data},
                                        left)
            callback(list(pending.items) if pending is not None else [])
        gevent.spawn(gather)

    # -- requests from the others --------------------------------------------------------

    def _on_request(self, channels: wire.Channels, body: bytes) -> None:
        request = wire.decode_request(body)
        request_id = request.get("requestId")
        if request.get("uid") == self.uid or self._requests.knows(request_id):
            return  # our own
        kind = request.get("type")
        namespace = channels.namespace
        if kind == RequestType.SOCKETS:
            rooms = request.get("rooms") or None
            ids = [c.session_id for c in self.select(namespace, BroadcastOptions(rooms))]
            self._respond(channels, request, {"requestId": request_id, "sockets": ids})
        elif kind == RequestType.ALL_ROOMS:
            self._respond(channels, request, {"requestId": request_id,
                                              "rooms": sorted(self.rooms(namespace))})
        elif kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE,
                      RequestType.REMOTE_DISCONNECT):
            self._on_membership_request(channels, request, kind)
        elif kind == RequestType.REMOTE_FETCH:
            rooms, except_rooms = wire.read_opts(request)
            conns = self.select(namespace, BroadcastOptions(rooms or None, except_rooms))
            self._respond(channels, request, {"requestId": request_id,
                                              "sockets": [describe(c) for c in conns]})
        elif kind == RequestType.SERVER_SIDE_EMIT:
            gevent.spawn(self._on_server_side_emit, channels, request)
        elif kind == RequestType.BROADCAST:
            self._on_broadcast_request(channels, request)
        else:
            log.debug("ignored a request of unknown type %r", kind)

    def _on_membership_request(self, channels: wire.Channels, request: Dict[str, Any],
                               kind: int) -> None:
        namespace = channels.namespace
        if "opts" in request:
            rooms, except_rooms = wire.read_opts(request)
            opts = BroadcastOptions(rooms or None, except_rooms, local=True)
            if kind == RequestType.REMOTE_JOIN:
                InMemoryAdapter.add_rooms(self, namespace, opts, request.get("rooms") or ())
            elif kind == RequestType.REMOTE_LEAVE:
                InMemoryAdapter.del_rooms(self, namespace, opts, request.get("rooms") or ())
            else:
                InMemoryAdapter.disconnect_connections(self, namespace, opts,
                                                       bool(request.get("close")))
            return
        # node 7.x requesters: one socket by id, answered with {"requestId"}
        sid = request.get("sid")
        targets = self.select(namespace, BroadcastOptions((sid,))) if isinstance(sid, str) \
            else []
        if not targets:
            return
        conn = targets[0]
        room = str(request.get("room"))
        if kind == RequestType.REMOTE_JOIN:
            self.join(conn, room)
        elif kind == RequestType.REMOTE_LEAVE:
            self.leave(conn, room)
        elif request.get("close"):
            conn.session.close("closed by the server")
        else:
            conn.close()
        self._respond(channels, request, {"requestId": request.get("requestId")})

    def _on_server_side_emit(self, channels: wire.Channels, request: Dict[str, Any]) -> None:
        data = request.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return
        handlers = self._context.server_events if self._context is not None else {}
        handler = handlers.get((channels.namespace, data[0]))
        answer = None
        if handler is None:
            log.debug("no @server_event handler for %r on %s", data[0], channels.namespace)
        else:
            try:
                answer = handler(*data[1:])
            except Exception:
                log.exception("@server_event handler of %r raised", data[0])
        if request.get("requestId") is not None:
            # node answers on the generic response channel, whatever its configuration
            self._publish(channels.response, _encode_answer({
                "type": int(RequestType.SERVER_SIDE_EMIT),
                "requestId": request["requestId"], "data": answer}))

    def _on_broadcast_request(self, channels: wire.Channels, request: Dict[str, Any]) -> None:
        packet = request.get("packet") or {}
        data = packet.get("data")
        if not isinstance(data, list) or not data:
            return
        namespace = channels.namespace
        request_id = request.get("requestId")
        rooms, except_rooms = wire.read_opts(request)
        flags = (request.get("opts") or {}).get("flags") or {}
        timeout = float(flags.get("timeout") or self.requests_timeout * 1000) / 1000

        def count(n: int) -> None:
            self._respond(channels, request, {
                "type": int(RequestType.BROADCAST_CLIENT_COUNT), "requestId": request_id,
                "clientCount": n})

        def acked(value: Any) -> None:
            self._respond(channels, request, {
                "type": int(RequestType.BROADCAST_ACK), "requestId": request_id,
                "packet": value}, binary=True)
        opts = BroadcastOptions(rooms or None, except_rooms, local=True)
        InMemoryAdapter.broadcast_with_ack(self, namespace, Packet(EVENT, namespace, data),
                                           opts, timeout, count, acked)

    def _respond(self, channels: wire.Channels, request: Dict[str, Any],
                 response: Dict[str, Any], binary: Optional[bool] = None) -> None:
        self._publish(channels.response, _encode_answer(response, binary))

    # -- responses to ours ---------------------------------------------------------------

    def _on_response(self, body: bytes) -> None:
        response = wire.decode_request(body)
        request_id = response.get("requestId")
        kind = response.get("type")
        if self._requests.broadcast_answer(
                request_id, kind == RequestType.BROADCAST_CLIENT_COUNT,
                kind == RequestType.BROADCAST_ACK, response.get("clientCount"),
                response.get("packet")):
            return
        pending = self._requests.pending(request_id)
        if pending is None:
            return
        if pending.type == RequestType.REMOTE_FETCH:
            sockets = response.get("sockets")
            pending.answered(sockets if isinstance(sockets, list) else ())
        elif pending.type == RequestType.ALL_ROOMS:
            rooms = response.get("rooms")
            pending.answered(rooms if isinstance(rooms, list) else ())
        elif pending.type == RequestType.SERVER_SIDE_EMIT:
            pending.answered((response.get("data"),))


def _encode_answer(response: Dict[str, Any], binary: Optional[bool] = None) -> bytes:
    """A response; one whose user data cannot be encoded still answers (without it), so
    the requester is not left waiting."""
    try:
        return wire.encode_request(response, binary)
    except (TypeError, ValueError) as exc:
        log.error("an answer to request %s could not be encoded (%s); answering without "
                  "the application's data", response.get("requestId"), exc)
        if "sockets" in response:
            response = dict(response, sockets=[dict(s, data={}) for s in response["sockets"]])
        else:
            response = {k: v for k, v in response.items() if k not in ("data", "packet")}
        return wire.encode_request(response, binary)
