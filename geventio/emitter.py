"""``geventio.Emitter``: reach a cluster's clients from a process that serves none.

A Celery task, a cron job or any plain script publishes to the Redis that geventio processes
(``RedisAdapter``) and node socket.io servers (``@socket.io/redis-adapter``) share, exactly as
node's ``@socket.io/redis-emitter`` 5.x does (the bytes are node's: see
:mod:`geventio.protocol.redis_wire`). It is write-only: no answers, no acks, no subscriptions.
It imports neither gevent nor anything that needs monkey patching: redis-py's blocking client
publishes (and is cooperative where gevent has patched the socket module).
"""
from __future__ import annotations

import logging
from typing import Any, List

from .protocol import redis_wire
from .protocol.redis_wire import Channels, RequestType

log = logging.getLogger(__name__)

#: event names node's clients and servers keep for themselves (node's emitter refuses them)
RESERVED_EVENTS = frozenset(("connect", "connect_error", "disconnect", "disconnecting",
                             "newListener", "removeListener"))


def _rooms(target: Any) -> List[str]:
    """Room names (a session id is a room) from None, a name, a connection or an iterable
    of them; duplicates dropped, order kept (node's Set)."""
    if target is None:
        return []
    items = [target] if isinstance(target, str) or hasattr(target, "session_id") else target
    rooms: List[str] = []
    for item in items:
        room = getattr(item, "session_id", item)
        if not isinstance(room, str):
            raise TypeError("a room is a str (or a connection), not %s" % type(room).__name__)
        if room not in rooms:
            rooms.append(room)
    return rooms


def _namespace(namespace: str) -> str:
    return namespace if namespace.startswith("/") else "/" + namespace


class Emitter:
    """Publishes to a geventio / node socket.io cluster over Redis under ``key``.

    ``url`` is a redis-py URL (``redis://``, ``rediss://``, ``unix://``); ``client``, when
    given, is a ready redis-py client to publish with instead (the emitter then leaves it
    open on :meth:`close`). Each method returns how many cluster processes (Redis
    subscribers) received the message, and raises redis-py's errors when Redis cannot be
    reached: pub/sub keeps nothing for later.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", key: str = "socket.io",
                 client: Any = None) -> None:
        redis_wire.require_msgpack()
        if client is None:
            try:
                import redis
            except ImportError:
                raise ImportError("geventio.Emitter needs redis and msgpack: "
                                  "pip install 'geventio[redis]'") from None
            client = redis.Redis.from_url(url)
            self._owns_client = True
        else:
            self._owns_client = False
        self.url = url
        self.key = key
        self._redis = client

    def _publish(self, channel: str, body: bytes) -> int:
        receivers = int(self._redis.publish(channel, body))
        log.debug("published %d bytes on %s (%d receivers)", len(body), channel, receivers)
        return receivers

    def emit(self, event: str, *args: Any, to: Any = None, skip: Any = None,
             namespace: str = "/", volatile: bool = False) -> int:
        """Emit ``event`` to the clients of ``namespace`` (in the rooms ``to``; not in the
        rooms ``skip``) in every process. ``bytes`` arrive as binary, aware datetimes as
        node's ISO strings. ``volatile``: dropped for clients whose transport is busy."""
        if not isinstance(event, str):
            raise TypeError("an event name is a str, not %s" % type(event).__name__)
        if event in RESERVED_EVENTS:
            raise ValueError("%r is a reserved event name" % event)
        nsp = _namespace(namespace)
        rooms = _rooms(to)
        body = redis_wire.encode_emitter_broadcast(nsp, [event, *args], rooms, _rooms(skip),
                                                   {"volatile": True} if volatile else {})
        return self._publish(Channels(self.key, nsp).for_rooms(rooms), body)

    def send(self, message: Any, to: Any = None, skip: Any = None, namespace: str = "/") -> int:
        """Send a plain message (today's clients: the ``message`` event), as
        ``Router.send``: a list or tuple is several messages, one publish each."""
        items = message if isinstance(message, (list, tuple)) else (message,)
        received = 0
        for item in items:
            received = self.emit("message", item, to=to, skip=skip, namespace=namespace)
        return received

    def join(self, room: Any, to: Any = None, skip: Any = None, namespace: str = "/") -> int:
        """Make the connections in ``to`` (all when None) but not in ``skip`` join ``room``
        (a name or a list of names) wherever they are."""
        return self._rooms_request(RequestType.REMOTE_JOIN, room, to, skip, namespace)

    def leave(self, room: Any, to: Any = None, skip: Any = None, namespace: str = "/") -> int:
        """Make the matching connections leave ``room`` (a name or a list)."""
        return self._rooms_request(RequestType.REMOTE_LEAVE, room, to, skip, namespace)

    def _rooms_request(self, kind: RequestType, room: Any, to: Any, skip: Any,
                       namespace: str) -> int:
        nsp = _namespace(namespace)
        body = redis_wire.encode_emitter_rooms_request(kind, _rooms(to), _rooms(skip),
                                                       _rooms(room))
        return self._publish(Channels(self.key, nsp).request, body)

    def disconnect(self, to: Any = None, skip: Any = None, namespace: str = "/",
                   close: bool = False) -> int:
        """Disconnect the matching connections (all of ``namespace`` when ``to`` is None);
        ``close=True`` also ends their transport."""
        nsp = _namespace(namespace)
        body = redis_wire.encode_emitter_disconnect(_rooms(to), _rooms(skip), close)
        return self._publish(Channels(self.key, nsp).request, body)

    def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> int:
        """An event for the servers of the cluster (``@router.server_event`` handlers,
        node's ``io.on(event)``); no answers come back to an emitter."""
        if not isinstance(event, str):
            raise TypeError("an event name is a str, not %s" % type(event).__name__)
        nsp = _namespace(namespace)
        body = redis_wire.encode_emitter_server_side_emit([event, *args])
        return self._publish(Channels(self.key, nsp).request, body)

    def close(self) -> None:
        """Close the Redis connections the emitter opened (not a ``client`` it was given)."""
        if self._owns_client:
            self._redis.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<geventio.Emitter key=%r>" % self.key


__all__ = ["Emitter", "RESERVED_EVENTS"]
