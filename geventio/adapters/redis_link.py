"""RedisLink: one process's pub/sub connection to Redis, for the RedisAdapter.

Two greenlets and nothing else: a publisher draining a bounded queue in order (pipelined),
so publishes reach Redis in the order they were made and a caller never waits for Redis; and
a subscriber on one connection that resubscribes with backoff when Redis goes away and hands
every message to a callback. Pub/sub is at-most-once: what is published while Redis is
unreachable is counted, logged (one line per ``LOST_LOG_INTERVAL``) and lost.

redis-py is a blocking library: it cooperates with gevent only on a monkey-patched ``socket``
module, so :meth:`RedisLink.start` refuses to run without it.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import gevent
from gevent.event import Event
from gevent.queue import Queue

log = logging.getLogger(__name__)

#: messages waiting for the publisher; beyond this (Redis unreachable or too slow) new ones
#: are dropped and counted in the log
MAX_PUBLISH_QUEUE = 100_000
#: most publishes sent in one pipeline
MAX_BATCH = 1000
#: seconds between two "messages not delivered" log lines while Redis is unreachable
LOST_LOG_INTERVAL = 5.0
#: the subscriber's reconnect delays: first, and the ceiling it doubles to
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0

#: called for every message: (pattern or None, channel, data)
OnMessage = Callable[[Optional[str], str, bytes], None]

_STOP = object()


class RedisLink:
    """Publishes to and subscribes from one Redis at ``url`` (redis-py ``options``)."""

    __slots__ = ("url", "_redis", "_options", "_patterns", "_channels", "_on_message",
                 "client", "_queue", "_dropped", "_lost", "_lost_logged", "_publisher",
                 "_subscriber", "_subscribed", "_closed")

    def __init__(self, redis_module: Any, url: str, options: Dict[str, Any],
                 patterns: Sequence[str], channels: Sequence[str],
                 on_message: OnMessage) -> None:
        self.url = url
        self._redis = redis_module
        self._options = options
        self._patterns = list(patterns)
        self._channels = list(channels)
        self._on_message = on_message
        #: the redis-py client (requests such as PUBSUB NUMSUB use it); None until started
        self.client: Any = None
        self._queue: Queue = Queue()
        self._dropped = 0
        self._lost = 0
        self._lost_logged = -LOST_LOG_INTERVAL
        self._publisher: Optional[gevent.Greenlet] = None
        self._subscriber: Optional[gevent.Greenlet] = None
        self._subscribed = Event()
        self._closed = False

    @property
    def where(self) -> str:
        """The Redis address for log lines (credentials left out)."""
        return self.url.rpartition("@")[2]

    def start(self) -> None:
        """Connect and start both greenlets (RuntimeError without monkey patching)."""
        from gevent import monkey
        if not monkey.is_module_patched("socket"):
            raise RuntimeError(
                "geventio's Redis adapters need gevent's monkey patching (redis-py would block "
                "the event loop): call gevent.monkey.patch_all() first (geventio-serve does)")
        self.client = self._redis.Redis.from_url(self.url, **self._options)
        self._publisher = gevent.spawn(self._publish_loop)
        self._subscriber = gevent.spawn(self._subscribe_loop)

    def subscribe_more(self, patterns: Sequence[str], channels: Sequence[str]) -> None:
        """Add patterns and channels to the subscription; a running subscriber starts over
        with them (what is published in between is missed, as during a reconnect)."""
        self._patterns.extend(p for p in patterns if p not in self._patterns)
        self._channels.extend(c for c in channels if c not in self._channels)
        subscriber = self._subscriber
        if subscriber is None or subscriber.dead or self._closed:
            return
        subscriber.kill(block=True, timeout=2.0)
        self._subscribed.clear()
        self._subscriber = gevent.spawn(self._subscribe_loop)

    @property
    def running(self) -> bool:
        """Whether the publisher or the subscriber greenlet is still alive."""
        return any(g is not None and not g.dead for g in (self._publisher, self._subscriber))

    def wait_subscribed(self, timeout: Optional[float] = None) -> bool:
        """Block until the subscriber is subscribed (True), or ``timeout`` passed."""
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        """Send what is queued (at most 2 s), stop both greenlets, close the connections."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._publisher is not None:
            self._publisher.join(2.0)
            self._publisher.kill(block=False)
        if self._subscriber is not None:
            self._subscriber.kill(block=True, timeout=2.0)
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # pragma: no cover - closing a broken pool
                log.debug("closing the Redis client failed", exc_info=True)

    # -- publishing ----------------------------------------------------------------------

    def publish(self, channel: str, body: bytes) -> None:
        """Queue one PUBLISH (never blocks)."""
        if self._closed:
            return
        if self._queue.qsize() >= MAX_PUBLISH_QUEUE:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.warning("Redis publish queue full (%d): %d messages dropped so far",
                            MAX_PUBLISH_QUEUE, self._dropped)
            return
        self._queue.put((channel, body))

    def _publish_loop(self) -> None:
        queue = self._queue
        while True:
            first = queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH and not queue.empty():
                item = queue.get_nowait()
                if item is _STOP:
                    self._send(batch)
                    return
                batch.append(item)
            self._send(batch)

    def _send(self, batch: List[Tuple[str, bytes]]) -> None:
        try:
            if len(batch) == 1:
                self.client.publish(*batch[0])
            else:
                pipe = self.client.pipeline(transaction=False)
                for channel, body in batch:
                    pipe.publish(channel, body)
                pipe.execute()
        except Exception as exc:
            # one line per LOST_LOG_INTERVAL at most, however many batches fail meanwhile
            self._lost += len(batch)
            now = time.monotonic()
            if now - self._lost_logged >= LOST_LOG_INTERVAL:
                log.warning("Redis unreachable (%s): %d messages not delivered to other "
                            "servers", exc, self._lost)
                self._lost = 0
                self._lost_logged = now

    # -- subscribing ---------------------------------------------------------------------

    def _subscribe_loop(self) -> None:
        delay = BACKOFF_FIRST
        failures = 0
        while not self._closed:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                if self._patterns:
                    pubsub.psubscribe(*self._patterns)
                if self._channels:
                    pubsub.subscribe(*self._channels)
                if failures:
                    log.warning("resubscribed to Redis at %s after %d failed attempts",
                                self.where, failures)
                failures = 0
                delay = BACKOFF_FIRST
                self._subscribed.set()
                for message in pubsub.listen():
                    self._dispatch(message)
            except gevent.GreenletExit:
                raise
            except Exception as exc:
                self._subscribed.clear()
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("Redis subscription lost or refused (%s); retrying in %.1f s "
                                "(attempt %d)", exc, delay, failures)
                gevent.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                self._subscribed.clear()
                try:
                    pubsub.close()
                except Exception:  # pragma: no cover - closing a broken connection
                    log.debug("closing the pubsub connection failed", exc_info=True)

    def _dispatch(self, message: Dict[str, Any]) -> None:
        kind = _text(message.get("type"))
        if kind not in ("pmessage", "message"):
            return
        channel = _text(message["channel"])
        try:
            pattern = _text(message["pattern"]) if kind == "pmessage" else None
            self._on_message(pattern, channel, message["data"])
        except Exception:
            log.exception("a message from Redis on %r could not be handled", channel)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
