"""RedisLink: one process's pub/sub connection to Redis, for the RedisAdapter.

Two greenlets do the work: a publisher draining a bounded queue in order (pipelined), so
publishes reach Redis in the order they were made and a caller never waits for Redis; and a
subscriber on one connection that resubscribes with backoff when Redis goes away and hands
every message to a callback. Channels and patterns may be added and removed while it runs
(:meth:`RedisLink.subscribe`, :meth:`RedisLink.unsubscribe`, which never block: a third
greenlet sends them on the subscriber's connection, in order); Redis's confirmations are
tracked so that a caller can wait for a subscription to be in place. Pub/sub is
at-most-once: what is published while Redis is unreachable is counted, logged (one line
per ``LOST_LOG_INTERVAL``) and lost.

redis-py is a blocking library: it cooperates with gevent only on a monkey-patched ``socket``
module, so :meth:`RedisLink.start` refuses to run without it.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

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
                 "_subscriber", "_subscribed", "_closed", "_pubsub", "_confirmed",
                 "_confirm", "_commands", "_commander")

    def __init__(self, redis_module: Any, url: str, options: Dict[str, Any],
                 patterns: Sequence[str], channels: Sequence[str],
                 on_message: OnMessage) -> None:
        self.url = url
        self._redis = redis_module
        self._options = options
        # dicts as ordered sets
        self._patterns: Dict[str, None] = dict.fromkeys(patterns)
        self._channels: Dict[str, None] = dict.fromkeys(channels)
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
        #: the live subscription (None while reconnecting)
        self._pubsub: Any = None
        #: the channels and patterns Redis confirmed on the live subscription
        self._confirmed: Set[str] = set()
        #: set (and replaced) at every confirmation
        self._confirm = Event()
        #: (un)subscribe commands for the commander greenlet, in order
        self._commands: Queue = Queue()
        self._commander: Optional[gevent.Greenlet] = None

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
        self._commander = gevent.spawn(self._command_loop)

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
        if self._commander is not None:
            self._commander.kill(block=False)
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # pragma: no cover - closing a broken pool
                log.debug("closing the Redis client failed", exc_info=True)

    # -- subscriptions while running ----------------------------------------------------

    def subscribe(self, patterns: Iterable[str] = (), channels: Iterable[str] = ()) -> None:
        """Add patterns and channels (kept across reconnects); sent soon if subscribed.
        Never blocks (it may be called in the event loop)."""
        patterns = [p for p in patterns if p not in self._patterns]
        channels = [c for c in channels if c not in self._channels]
        self._patterns.update(dict.fromkeys(patterns))
        self._channels.update(dict.fromkeys(channels))
        self._queue_command("psubscribe", patterns)
        self._queue_command("subscribe", channels)

    def unsubscribe(self, patterns: Iterable[str] = (), channels: Iterable[str] = ()) -> None:
        """Remove patterns and channels; sent soon if subscribed. Never blocks."""
        patterns = [p for p in patterns if self._patterns.pop(p, 0) is None]
        channels = [c for c in channels if self._channels.pop(c, 0) is None]
        self._confirmed.difference_update(patterns)
        self._confirmed.difference_update(channels)
        self._queue_command("punsubscribe", patterns)
        self._queue_command("unsubscribe", channels)

    def _queue_command(self, name: str, names: List[str]) -> None:
        if names and not self._closed:
            self._commands.put((name, names))

    def _command_loop(self) -> None:
        while True:
            name, names = self._commands.get()
            self._command(name, names)

    def _command(self, name: str, names: List[str]) -> None:
        pubsub = self._pubsub
        if not names or pubsub is None:
            return  # the subscriber's next (re)subscription sends them
        try:
            getattr(pubsub, name)(*names)
        except Exception as exc:  # the subscriber notices the broken connection too
            log.warning("Redis %s %s failed (%s)", name.upper(), names[0], exc)

    def wait_confirmed(self, names: Iterable[str], timeout: Optional[float]) -> bool:
        """Block until Redis confirmed every channel or pattern of ``names`` (True), or
        ``timeout`` passed (False)."""
        wanted = set(names)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not wanted <= self._confirmed:
            left = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or self._closed:
                return False
            self._confirm.wait(left)
        return True

    def _on_confirmed(self, name: str) -> None:
        if name in self._patterns or name in self._channels:
            self._confirmed.add(name)
        event, self._confirm = self._confirm, Event()
        event.set()

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
            pubsub = self.client.pubsub()
            try:
                self._confirmed.clear()
                patterns, channels = list(self._patterns), list(self._channels)
                if patterns:
                    pubsub.psubscribe(*patterns)
                if channels:
                    pubsub.subscribe(*channels)
                # what changed while those were sent, now that the connection exists
                self._pubsub = pubsub
                self._command("psubscribe", [p for p in self._patterns if p not in patterns])
                self._command("subscribe", [c for c in self._channels if c not in channels])
                self._command("punsubscribe", [p for p in patterns if p not in self._patterns])
                self._command("unsubscribe", [c for c in channels if c not in self._channels])
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
                self._pubsub = None
                try:
                    pubsub.close()
                except Exception:  # pragma: no cover - closing a broken connection
                    log.debug("closing the pubsub connection failed", exc_info=True)

    def _dispatch(self, message: Dict[str, Any]) -> None:
        kind = _text(message.get("type"))
        if kind in ("subscribe", "psubscribe"):
            self._on_confirmed(_text(message["channel"]))
            return
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
