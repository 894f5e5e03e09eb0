"""RequestBook: this server's requests to the other servers of a cluster, and their answers.

Shared by every cluster adapter (Redis pub/sub, Redis streams, AMQP): a request waits for
the responses it expects or its timeout and returns what came (node's partial results); a
broadcast with acks keeps its callbacks until its timeout. The wire is the adapter's.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import gevent
from gevent.event import Event

log = logging.getLogger(__name__)

#: a broadcast with acks: (how many clients another server reached, one client's ack)
AckCallbacks = Tuple[Callable[[int], None], Callable[[Any], None]]


class Pending:
    """One request of ours waiting for the other servers' responses."""

    __slots__ = ("type", "expected", "count", "items", "done")

    def __init__(self, kind: int, expected: int) -> None:
        self.type = kind
        self.expected = expected
        self.count = 0
        self.items: List[Any] = []
        self.done = Event()

    def answered(self, items: Sequence[Any] = ()) -> None:
        """One more server answered (with ``items``)."""
        self.count += 1
        self.items.extend(items)
        if self.count >= self.expected:
            self.done.set()


class RequestBook:
    """The requests and acked broadcasts of one adapter, by request id."""

    __slots__ = ("_pending", "_acks")

    def __init__(self) -> None:
        self._pending: Dict[str, Pending] = {}
        self._acks: Dict[str, AckCallbacks] = {}

    def ask(self, request_id: str, kind: Any, expected: int, publish: Callable[[], object],
            timeout: float) -> Pending:
        """Publish a request (``publish()``) and block until ``expected`` servers answered
        or ``timeout`` passed (logged); the pending request holds what came."""
        pending = self._pending[request_id] = Pending(kind, expected)
        try:
            publish()
            if not pending.done.wait(timeout):
                log.warning("%s request %s: %d of %d servers answered within %s s",
                            getattr(kind, "name", kind), request_id, pending.count, expected,
                            timeout)
        finally:
            self._pending.pop(request_id, None)
        return pending

    def pending(self, request_id: Any) -> Optional[Pending]:
        """The request waiting under ``request_id`` (None: unknown, answered or expired)."""
        return self._pending.get(request_id) if isinstance(request_id, str) else None

    def expect_acks(self, request_id: str, callbacks: AckCallbacks, timeout: float) -> None:
        """Keep a broadcast's ack callbacks for ``timeout`` seconds."""
        self._acks[request_id] = callbacks
        gevent.spawn_later(timeout, self._acks.pop, request_id, None)

    def acks(self, request_id: Any) -> Optional[AckCallbacks]:
        """The ack callbacks of the broadcast ``request_id`` (None when unknown)."""
        return self._acks.get(request_id) if isinstance(request_id, str) else None

    def broadcast_answer(self, request_id: Any, is_count: bool, is_ack: bool,
                         client_count: Any, packet: Any) -> bool:
        """Route one answer to an acked broadcast of ours, decoded by the adapter from its
        wire: a server's client count (``is_count``, ``client_count``) or one client's ack
        (``is_ack``, ``packet``). False when ``request_id`` is no such broadcast (the
        answer may be a response to a request)."""
        callbacks = self.acks(request_id)
        if callbacks is None:
            return False
        if is_count:
            try:
                count = int(client_count or 0)
            except (TypeError, ValueError):
                log.debug("ignored a client count %r for broadcast %s", client_count,
                          request_id)
                return True
            callbacks[0](count)
        elif is_ack:
            callbacks[1](packet)
        return True

    def knows(self, request_id: Any) -> bool:
        """Whether ``request_id`` is one of ours (a request or an acked broadcast)."""
        return request_id in self._pending or request_id in self._acks

    def close(self) -> None:
        """Wake every waiting request (it returns what came) and forget everything."""
        for pending in self._pending.values():
            pending.done.set()
        self._pending.clear()
        self._acks.clear()
