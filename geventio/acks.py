"""Acknowledgements that are resolved where they are read, and the gathering of a
broadcast's acknowledgements from every client of every server (``Router.call``)."""
from __future__ import annotations

import time
from typing import Any, Callable, List, Optional

from gevent.event import Event

from .exceptions import TimeoutError


class DirectAck:
    """An acknowledgement callback that the session calls as soon as the client's ack is
    read (in the event loop or the reading greenlet), not in its worker: it must not block.
    ``fail`` is called instead when the connection ends first."""

    __slots__ = ()

    def __call__(self, *ack: Any) -> None:  # pragma: no cover - subclasses override
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        """The acknowledgement will never come."""
        return None


def ack_value(ack: tuple) -> Any:
    """What one client's acknowledgement arguments stand for: one argument as is, several
    as a list, none as None (``conn.call``'s convention)."""
    if len(ack) == 1:
        return ack[0]
    return list(ack) if ack else None


class ForwardAck(DirectAck):
    """Passes a client's acknowledgement value on to ``target(value)``."""

    __slots__ = ("target",)

    def __init__(self, target: Callable[[Any], None]) -> None:
        self.target = target

    def __call__(self, *ack: Any) -> None:
        self.target(ack_value(ack))


class AckCollector:
    """Gathers one broadcast-with-ack: every server reports how many of its clients will
    acknowledge (``client_count``), then each acknowledgement arrives (``ack``). Done when
    ``servers`` counts came and as many acks as they announced (``servers`` None: not done
    before :meth:`expect_servers` gives it)."""

    __slots__ = ("servers", "_counts", "_expected", "responses", "_done")

    def __init__(self, servers: Optional[int] = None) -> None:
        self.servers: Optional[int] = None if servers is None else max(1, servers)
        self._counts = 0
        self._expected = 0
        self.responses: List[Any] = []
        self._done = Event()

    def client_count(self, count: int) -> None:
        self._counts += 1
        self._expected += count
        self._check()

    def ack(self, value: Any) -> None:
        self.responses.append(value)
        self._check()

    def expect_servers(self, servers: int) -> None:
        """How many servers report a client count (known once the broadcast is out)."""
        self.servers = max(1, servers)
        self._check()

    def _check(self) -> None:
        if self.servers is not None and self._counts >= self.servers \
                and len(self.responses) >= self._expected:
            self._done.set()

    def wait(self, timeout: Optional[float], event: str = "",
             until: Optional[float] = None) -> List[Any]:
        """The acknowledgements; raises TimeoutError (with ``.responses``) after
        ``timeout`` seconds, or at ``until`` (a :func:`time.monotonic` time) when given:
        the end of a ``timeout`` that began before the broadcast."""
        wait = timeout if until is None else max(0.0, until - time.monotonic())
        if not self._done.wait(wait):
            responses = list(self.responses)
            raise TimeoutError("%d of %s acknowledgements of %r within %s s (%d of %s servers "
                               "answered)" % (len(responses), self._expected or "?", event,
                                              timeout, self._counts, self.servers),
                               responses=responses)
        return list(self.responses)
