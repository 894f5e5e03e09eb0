"""RedisStreamsAdapter: node's ``@socket.io/redis-streams-adapter`` 0.3.x, under gevent.

The cluster messages of :class:`~geventio.adapters.cluster.ClusterAdapter` over Redis:
persistent ones (broadcasts without ack, joins, leaves, disconnects) are stream entries
(XADD with ``MAXLEN ~ max_len``), read back by one greenlet running ``XREAD BLOCK``;
ephemeral ones (broadcasts with ack, fetches, server-side emits) and the responses go over
pub/sub through a :class:`~geventio.adapters.redis_link.RedisLink`, as node's adapter does.
Servers are counted with PUBSUB NUMSUB of the public channel.

It carries connection state recovery across processes: the stream entry ids are the
offsets, and a disconnected session is a key (SET with PX, the recovery window) that any
server can take back (GET + DEL), reading the packets it missed with XRANGE. A client whose
offset was trimmed from the stream connects as a new client.

A broadcast waits for its XADD (one round trip) before local delivery, as node's does, so
that local clients get the same offset as the others. redis-py blocks: :meth:`start`
refuses an unpatched process.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import gevent
import gevent.event

from ..protocol import cluster_wire as cw
from ..protocol import redis_wire
from .base import RestoredSession, SavedSession, should_include
from .cluster import ClusterAdapter
from .redis_link import BACKOFF_FIRST, BACKOFF_MAX, RedisLink

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

log = logging.getLogger(__name__)

#: entries per XREAD / XRANGE call, and most XRANGE calls while restoring a session
READ_COUNT = 100
RANGE_COUNT = 1000
MAX_RANGE_CALLS = 100
#: how long one XREAD blocks (ms)
BLOCK_MS = 5000


class RedisStreamsAdapter(ClusterAdapter):
    """Rooms, broadcasts and recovery shared through one Redis stream (geventio or node
    servers). Other keyword arguments go to ``redis.Redis.from_url``."""

    __slots__ = ("url", "stream_name", "channel_prefix", "max_len", "session_key_prefix",
                 "_redis", "_options", "_link", "_reader", "_ready")

    recovers = True

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", stream_name: str = "socket.io",
                 channel_prefix: str = "socket.io", max_len: int = 10_000,
                 session_key_prefix: str = "sio:session:", requests_timeout: float = 5.0,
                 **redis_options: Any) -> None:
        super().__init__(requests_timeout)
        redis_wire.require_msgpack()
        try:
            import redis
        except ImportError:
            raise ImportError("geventio.RedisStreamsAdapter needs redis-py and msgpack: "
                              "pip install 'geventio[redis]'") from None
        self._redis = redis
        self.url = url
        self.stream_name = stream_name
        self.channel_prefix = channel_prefix
        self.max_len = int(max_len)
        self.session_key_prefix = session_key_prefix
        options: Dict[str, Any] = {"protocol": 2, "socket_keepalive": True,
                                   "socket_connect_timeout": 5.0, "health_check_interval": 30}
        options.update(redis_options)
        self._options = options
        self._link: Optional[RedisLink] = None
        self._reader: Optional[gevent.Greenlet] = None
        self._ready = gevent.event.Event()

    def __repr__(self) -> str:
        return "<RedisStreamsAdapter %s stream=%r uid=%s>" % (
            self.url.rpartition("@")[2], self.stream_name, self.uid)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, context: Optional["Context"] = None) -> None:
        super().start(context)
        channels: List[str] = []
        for namespace in self.namespaces:
            channels += self._channels(namespace)
        self._link = RedisLink(self._redis, self.url, self._options, [], channels,
                               self._on_published)
        self._link.start()
        self._reader = gevent.spawn(self._read_loop)

    @property
    def running(self) -> bool:
        """Whether the pub/sub and stream greenlets are alive."""
        return self._link is not None and self._link.running and self._reader is not None \
            and not self._reader.dead

    def wait_ready(self, timeout: Optional[float] = None) -> bool:
        """Block until subscribed and reading the stream (True), or ``timeout`` passed."""
        link = self._link
        return link is not None and link.wait_subscribed(timeout) and self._ready.wait(timeout)

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._reader is not None:
            self._reader.kill(block=True, timeout=2.0)
        if self._link is not None:
            self._link.close()

    @property
    def _client(self) -> Any:
        if self._link is None or self._link.client is None:
            raise RuntimeError("RedisStreamsAdapter is not started")
        return self._link.client

    # -- the transport -------------------------------------------------------------------

    def do_publish(self, message: Dict[str, Any]) -> str:
        if cw.is_ephemeral(message):
            self._pubsub(cw.public_channel(self.channel_prefix, message["nsp"]), message)
            return ""
        fields = cw.encode_entry(message)
        if gevent.getcurrent() is gevent.get_hub():
            gevent.spawn(self._xadd, fields)  # the loop itself cannot wait: no offset
            return ""
        return self._xadd(fields)

    def _xadd(self, fields: Dict[str, str]) -> str:
        entry_id = self._client.xadd(self.stream_name, fields, maxlen=self.max_len,
                                     approximate=True)
        return _text(entry_id)

    def do_publish_response(self, requester_uid: str, response: Dict[str, Any]) -> None:
        self._pubsub(cw.private_channel(self.channel_prefix, response["nsp"], requester_uid),
                     response)

    def _channels(self, namespace: str) -> List[str]:
        """The pub/sub channels of ``namespace``: the public one and our private one."""
        return [cw.public_channel(self.channel_prefix, namespace),
                cw.private_channel(self.channel_prefix, namespace, self.uid)]

    def do_listen(self, namespace: str) -> None:
        if self._link is not None:
            self._link.subscribe((), self._channels(namespace))

    def do_unlisten(self, namespace: str) -> None:
        if self._link is not None:
            self._link.unsubscribe((), self._channels(namespace))

    def do_wait_listening(self, namespace: str, timeout: float) -> bool:
        link = self._link
        return link is not None and link.wait_confirmed(self._channels(namespace), timeout)

    def _pubsub(self, channel: str, message: Dict[str, Any]) -> None:
        if self._link is not None and not self._closed:
            self._link.publish(channel, cw.encode_published(message))

    def server_count(self, namespace: str = "/") -> int:
        """The servers subscribed to ``namespace``'s public channel, and this one (which
        is not while a dynamic namespace has no connection here)."""
        if self._link is None:
            return 1
        try:
            counts = self._client.pubsub_numsub(cw.public_channel(self.channel_prefix,
                                                                  namespace))
        except Exception as exc:
            log.warning("Redis unreachable (%s): counting this server only", exc)
            return 1
        others = 0 if namespace in self.namespaces else 1
        return max(1, int(counts[0][1]) + others) if counts else 1

    def _on_published(self, pattern: Optional[str], channel: str, body: bytes) -> None:
        try:
            message = cw.decode_published(body)
        except ValueError as exc:
            log.debug("ignored a malformed message on %r: %s", channel, exc)
            return
        self.on_message(message)

    def _read_loop(self) -> None:
        """XREAD BLOCK from the stream's end, handing each entry (with its id as the
        offset) to on_message; reconnecting with backoff."""
        last: Optional[str] = None
        delay = BACKOFF_FIRST
        while not self._closed:
            try:
                client = self._client
                if last is None:
                    newest = client.xrevrange(self.stream_name, "+", "-", count=1)
                    last = _text(newest[0][0]) if newest else "0-0"
                    self._ready.set()
                answer = client.xread({self.stream_name: last}, count=READ_COUNT,
                                      block=BLOCK_MS)
                delay = BACKOFF_FIRST
                for _stream, entries in answer or ():
                    for entry_id, fields in entries:
                        last = _text(entry_id)
                        self._on_entry(last, fields)
            except gevent.GreenletExit:
                raise
            except Exception as exc:
                log.warning("reading stream %r failed (%s); retrying in %.1f s",
                            self.stream_name, exc, delay)
                gevent.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def _on_entry(self, entry_id: str, fields: Any) -> None:
        try:
            message = cw.decode_entry(fields)
        except ValueError as exc:
            log.debug("ignored a malformed stream entry %s: %s", entry_id, exc)
            return
        try:
            self.on_message(message, entry_id)
        except Exception:
            log.exception("stream entry %s could not be handled", entry_id)

    # -- recovery ------------------------------------------------------------------------

    def persist_session(self, namespace: str, session: SavedSession) -> None:
        if self._window is None or self._link is None:
            return
        value = cw.encode_session(session.sid, session.pid, session.rooms, session.data)
        gevent.spawn(self._set_session, self.session_key_prefix + session.pid, value,
                     int(self._window * 1000))

    def _set_session(self, key: str, value: str, px: int) -> None:
        try:
            self._client.set(key, value, px=px)
        except Exception as exc:
            log.warning("a session could not be kept for recovery (%s)", exc)

    def restore_session(self, namespace: str, pid: str,
                        offset: str) -> Optional[RestoredSession]:
        if self._link is None or not cw.valid_offset(offset):
            return None
        client = self._client
        pipe = client.pipeline(transaction=True)
        pipe.get(self.session_key_prefix + pid)
        pipe.delete(self.session_key_prefix + pid)
        raw = pipe.execute()[0]
        if not raw:
            return None
        if not client.xrange(self.stream_name, offset, offset):
            log.info("recovery: offset %s is no longer in stream %r (trimmed); a new "
                     "connection", offset, self.stream_name)
            return None
        try:
            stored = cw.decode_session(raw)
        except ValueError as exc:
            log.warning("recovery: session %s unreadable (%s)", pid, exc)
            return None
        rooms = [str(r) for r in stored.get("rooms") or ()]
        data = stored.get("data")
        saved = SavedSession(stored["sid"], pid, rooms, data if isinstance(data, dict) else {})
        return RestoredSession(saved, self._missed(namespace, rooms, offset))

    def _missed(self, namespace: str, rooms: List[str], offset: str) -> List[List[Any]]:
        """The stream's broadcasts of ``namespace`` after ``offset`` that reached
        ``rooms``, each with its entry id appended."""
        missed: List[List[Any]] = []
        for _ in range(MAX_RANGE_CALLS):
            entries = self._client.xrange(self.stream_name, cw.next_offset(offset), "+",
                                          count=RANGE_COUNT)
            if not entries:
                break
            for entry_id, fields in entries:
                offset = _text(entry_id)
                try:
                    message = cw.decode_entry(fields)
                except ValueError:
                    continue
                if message["nsp"] != namespace or message["type"] != cw.MessageType.BROADCAST:
                    continue
                data = message.get("data") or {}
                to, except_rooms, flags = cw.read_opts(data)
                packet = (data.get("packet") or {}).get("data")
                if isinstance(packet, list) and packet and not flags.get("volatile") \
                        and should_include(rooms, to, except_rooms):
                    missed.append([*packet, offset])
        return missed


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)
