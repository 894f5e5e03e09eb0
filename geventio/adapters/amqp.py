"""AmqpAdapter: the cluster over RabbitMQ (AMQP 0-9-1, kombu on py-amqp), under gevent.

Node's generic cluster messages (:mod:`geventio.protocol.cluster_wire`, msgpack bodies) go
through one direct exchange (``exchange``, not durable): messages for every server with the
routing key ``<exchange>#<nsp>#``, responses to one server with ``<exchange>#<nsp>#<uid>#``.
Each process reads one exclusive, auto-delete queue bound to both keys of each namespace it
listens to; a namespace created from a pattern is bound (and announced) by the consumer
greenlet when it gets its first local connection, and unbound after its last.
A URL given to ``get_router`` / ``--message-queue`` may set the exchange and the heartbeat
timing: ``?exchange=name&heartbeat_interval=5&heartbeat_timeout=10``.
AMQP has no subscriber count, so the servers are counted by heartbeats
(:class:`~geventio.adapters.cluster.ClusterAdapterWithHeartbeat`).

Two connections, each owned by one greenlet: a consumer that (re)connects with backoff,
re-declares the exchange, the queue and its bindings on every connect and only then announces
this server (INITIAL_HEARTBEAT); and a publisher sending a FIFO queue in order, with
publisher confirms, retrying a message whose publish failed after reconnecting. py-amqp
blocks: :meth:`start` refuses an unpatched process.
"""
from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import gevent
import gevent.queue
from gevent.event import Event

from ..protocol import cluster_wire as cw
from ..protocol import redis_wire
from .cluster import ClusterAdapterWithHeartbeat
from .redis_link import BACKOFF_FIRST, BACKOFF_MAX, MAX_PUBLISH_QUEUE

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

log = logging.getLogger(__name__)

#: how long the consumer waits for a frame before looking again (s): also the longest wait
#: before it binds a namespace created from a pattern
DRAIN_TIMEOUT = 0.25
#: how long a request about a dynamic namespace that had no connection here waits, once the
#: namespace is bound and announced, for the servers listening to it to answer (s)
DISCOVERY_WINDOW = 1.0
_STOP = object()
_Item = Union[Tuple[str, bytes], object]


class AmqpAdapter(ClusterAdapterWithHeartbeat):
    """Rooms and broadcasts shared through a RabbitMQ exchange. Other keyword arguments go
    to ``kombu.Connection``."""

    __slots__ = ("url", "exchange", "connection_name", "_kombu", "_options", "_queue",
                 "_publisher", "_consumer", "_ready", "_connections", "_dropped",
                 "_rebind", "_bound")

    def __init__(self, url: str = "amqp://guest:guest@127.0.0.1:5672//",
                 exchange: str = "socket.io", requests_timeout: float = 5.0,
                 heartbeat_interval: float = 5.0, heartbeat_timeout: float = 10.0,
                 **kombu_options: Any) -> None:
        super().__init__(requests_timeout, heartbeat_interval, heartbeat_timeout)
        redis_wire.require_msgpack()
        try:
            import kombu
        except ImportError:
            raise ImportError("geventio.AmqpAdapter needs kombu and msgpack: "
                              "pip install 'geventio[amqp]'") from None
        self._kombu = kombu
        self.url = url
        self.exchange = exchange
        #: the client-provided connection name (``<name> consumer`` / ``<name> publisher``)
        self.connection_name = "geventio %s" % self.uid
        self._options: Dict[str, Any] = {"connect_timeout": 5.0}
        self._options.update(kombu_options)
        self._queue: "gevent.queue.Queue[_Item]" = gevent.queue.Queue()
        self._publisher: Optional[gevent.Greenlet] = None
        self._consumer: Optional[gevent.Greenlet] = None
        self._ready = Event()
        #: how many times the consumer has connected (and declared its queue)
        self._connections = 0
        self._dropped = 0
        #: namespaces whose bindings the consumer must add (True) or remove (False)
        self._rebind: Dict[str, bool] = {}
        #: dynamic namespace -> set once its bindings are in place
        self._bound: Dict[str, Event] = {}

    @classmethod
    def from_url(cls, url: str) -> "AmqpAdapter":
        """The adapter for ``url``, whose query may carry ``exchange``,
        ``heartbeat_interval`` and ``heartbeat_timeout`` (seconds)."""
        parts = urlsplit(url)
        ours: Dict[str, Any] = {}
        rest = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "exchange":
                ours[key] = value
            elif key in ("heartbeat_interval", "heartbeat_timeout"):
                ours[key] = float(value)
            else:
                rest.append((key, value))
        return cls(urlunsplit(parts._replace(query=urlencode(rest))), **ours)

    def __repr__(self) -> str:
        return "<AmqpAdapter %s exchange=%r uid=%s>" % (
            self.url.rpartition("@")[2], self.exchange, self.uid)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, context: Optional["Context"] = None) -> None:
        from gevent import monkey
        if not monkey.is_module_patched("socket"):
            raise RuntimeError(
                "geventio's AMQP adapter needs gevent's monkey patching (py-amqp would block "
                "the event loop): call gevent.monkey.patch_all() first (geventio-serve does)")
        super().start(context)
        self._publisher = gevent.spawn(self._publish_loop)
        self._consumer = gevent.spawn(self._consume_loop)

    @property
    def connections(self) -> int:
        """How many times the queue has been declared and bound (1 + reconnects)."""
        return self._connections

    @property
    def running(self) -> bool:
        """Whether the publisher and the consumer greenlets are alive."""
        return all(g is not None and not g.dead for g in (self._publisher, self._consumer))

    def wait_ready(self, timeout: Optional[float] = None) -> bool:
        """Block until the queue is bound and this server announced (True), or timeout."""
        return self._ready.wait(timeout)

    def close(self) -> None:
        if self._closed:
            return
        super().close()  # ADAPTER_CLOSE queued first
        self._queue.put(_STOP)
        if self._publisher is not None:
            self._publisher.join(2.0)
            self._publisher.kill(block=False)
        if self._consumer is not None:
            self._consumer.kill(block=True, timeout=2.0)

    def _connect(self, role: str) -> Any:
        options = dict(self._options)
        transport = dict(options.pop("transport_options", None) or {})
        properties = dict(transport.get("client_properties") or {})
        properties.setdefault("connection_name", "%s %s" % (self.connection_name, role))
        transport["client_properties"] = properties
        if role == "publisher":
            transport.setdefault("confirm_publish", True)
        connection = self._kombu.Connection(self.url, transport_options=transport, **options)
        connection.connect()
        return connection

    def _exchange(self) -> Any:
        return self._kombu.Exchange(self.exchange, type="direct", durable=False,
                                    auto_delete=False)

    # -- the transport -------------------------------------------------------------------

    def _key(self, namespace: str, uid: str = "") -> str:
        return "%s#%s#%s" % (self.exchange, namespace, uid + "#" if uid else "")

    def do_publish(self, message: Dict[str, Any]) -> str:
        self._enqueue(self._key(message["nsp"]), message)
        return ""

    def do_publish_response(self, requester_uid: str, response: Dict[str, Any]) -> None:
        self._enqueue(self._key(response["nsp"], requester_uid), response)

    def _enqueue(self, key: str, message: Dict[str, Any]) -> None:
        if self._publisher is None or (self._closed and message.get("type")
                                       != cw.MessageType.ADAPTER_CLOSE):
            return
        if self._queue.qsize() >= MAX_PUBLISH_QUEUE:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.warning("AMQP publish queue full (%d): %d messages dropped so far",
                            MAX_PUBLISH_QUEUE, self._dropped)
            return
        self._queue.put((key, cw.encode_published(message)))

    def _publish_loop(self) -> None:
        """Publish the queue in order; a failed publish is retried on a new connection."""
        connection: Any = None
        producer: Any = None
        item: Optional[_Item] = None
        delay = BACKOFF_FIRST
        try:
            while True:
                if item is None:
                    item = self._queue.get()
                if item is _STOP:
                    return
                assert isinstance(item, tuple)
                try:
                    if producer is None:
                        connection = self._connect("publisher")
                        producer = self._kombu.Producer(connection.channel(),
                                                        exchange=self._exchange())
                        if delay > BACKOFF_FIRST:
                            log.info("AMQP publisher reconnected to %s", self._where)
                    producer.publish(item[1], routing_key=item[0], retry=False,
                                     content_type="application/x-msgpack",
                                     content_encoding="binary")
                    item = None
                    delay = BACKOFF_FIRST
                except Exception as exc:
                    log.warning("AMQP publish to %s failed (%s: %s); reconnecting in %.1f s",
                                self._where, type(exc).__name__, exc, delay)
                    _release(connection)
                    connection = producer = None
                    gevent.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
        finally:
            _release(connection)

    def _consume_loop(self) -> None:
        """Connect, declare the exchange, the queue and its bindings, announce this server,
        read; on any failure start again with backoff."""
        delay = BACKOFF_FIRST
        while not self._closed:
            connection: Any = None
            try:
                connection = self._connect("consumer")
                # the new queue gets the keys of every namespace listened to now; what
                # changes while it is declared (the broker answering) stays in _rebind
                self._rebind.clear()
                declared = self.namespaces
                consumer = self._kombu.Consumer(connection.channel(),
                                                queues=[self._queue_(declared)],
                                                on_message=self._on_delivery, no_ack=True)
                consumer.consume()  # declares and binds, synchronously
                self._connections += 1
                if self._connections > 1:
                    log.info("AMQP consumer reconnected to %s: queue and bindings declared",
                             self._where)
                delay = BACKOFF_FIRST
                self._declared(declared)
                self._ready.set()
                self.begin_heartbeats()
                while not self._closed:
                    if self._rebind:
                        self._apply_bindings(consumer.channel)
                    try:
                        connection.drain_events(timeout=DRAIN_TIMEOUT)
                    except socket.timeout:
                        pass
            except gevent.GreenletExit:
                raise
            except Exception as exc:
                if self._closed:
                    return
                log.warning("AMQP consumer on %s failed (%s: %s); reconnecting in %.1f s",
                            self._where, type(exc).__name__, exc, delay)
                gevent.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                _release(connection)

    # -- namespaces created from a pattern ----------------------------------------------

    def do_listen(self, namespace: str) -> None:
        self._bound[namespace] = Event()
        self._rebind[namespace] = True

    def do_unlisten(self, namespace: str) -> None:
        super().do_unlisten(namespace)  # ADAPTER_CLOSE there
        self._bound.pop(namespace, None)
        self._rebind[namespace] = False

    def do_wait_listening(self, namespace: str, timeout: float) -> bool:
        """Wait for the bindings, then (the servers being counted by their answers to our
        INITIAL_HEARTBEAT) for the others to answer, at most DISCOVERY_WINDOW."""
        bound = self._bound.get(namespace)
        if bound is None or bound.is_set():
            return True
        started = time.monotonic()
        if not bound.wait(timeout):
            return False
        gevent.sleep(max(0.0, min(DISCOVERY_WINDOW, timeout - (time.monotonic() - started))))
        return True

    def _declared(self, namespaces: List[str]) -> None:
        """The queue is declared with the keys of ``namespaces``: those still listened to
        and not changed since are bound (the others wait in _rebind)."""
        for namespace in namespaces:
            event = self._bound.get(namespace)
            if event is not None and namespace not in self._rebind:
                event.set()

    def _apply_bindings(self, channel: Any) -> None:
        """In the consumer greenlet (the exclusive queue is its connection's): bind or
        unbind the namespaces that changed, announcing each one bound."""
        name = self._queue_name
        while self._rebind:
            namespace, bind = self._rebind.popitem()
            for key in (self._key(namespace), self._key(namespace, self.uid)):
                if bind:
                    channel.queue_bind(queue=name, exchange=self.exchange, routing_key=key)
                else:
                    channel.queue_unbind(queue=name, exchange=self.exchange, routing_key=key)
            event = self._bound.get(namespace)
            if bind and event is not None:
                event.set()
                self.announce(namespace)
            log.debug("AMQP queue %s %s namespace %s", name, "bound to" if bind
                      else "unbound from", namespace)

    @property
    def _queue_name(self) -> str:
        return "%s#%s" % (self.exchange, self.uid)

    def _queue_(self, namespaces: List[str]) -> Any:
        """The exclusive queue, bound to both keys of each of ``namespaces``."""
        exchange = self._exchange()
        keys: List[str] = []
        for namespace in namespaces:
            keys += [self._key(namespace), self._key(namespace, self.uid)]
        return self._kombu.Queue(self._queue_name, exclusive=True,
                                 auto_delete=True, durable=False,
                                 bindings=[self._kombu.binding(exchange, routing_key=k)
                                           for k in keys])

    def _on_delivery(self, delivery: Any) -> None:
        try:
            message = cw.decode_published(delivery.body)
        except ValueError as exc:
            log.debug("ignored a malformed AMQP message: %s", exc)
            return
        try:
            self.on_message(message)
        except Exception:
            log.exception("an AMQP cluster message could not be handled")

    @property
    def _where(self) -> str:
        return self.url.rpartition("@")[2]


def _release(connection: Any) -> None:
    if connection is not None:
        try:
            connection.release()
        except Exception:  # pragma: no cover - closing a broken connection
            log.debug("closing an AMQP connection failed", exc_info=True)
