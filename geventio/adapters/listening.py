"""ListeningAdapter: the in-memory index plus which namespaces a cluster transport listens to.

The Redis adapter and the generic :class:`~geventio.adapters.cluster.ClusterAdapter` both
listen to the router's namespaces for their whole life, and to a namespace created from a
pattern while it has a local connection or a request of ours waits for answers about it
(:class:`~geventio.adapters.namespaces.NamespaceBook`). This class keeps that book and
turns its answers into the subclass's ``do_listen`` / ``do_unlisten`` /
``do_wait_listening``, which start, stop and confirm receiving a namespace's messages on
the transport.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional

from .memory import InMemoryAdapter
from .namespaces import NamespaceBook


class ListeningAdapter(InMemoryAdapter):
    """An :class:`InMemoryAdapter` whose subclass receives other servers' messages per
    namespace. ``requests_timeout``: how long requests to the other servers wait."""

    __slots__ = ("requests_timeout", "_listened")

    def __init__(self, requests_timeout: float = 5.0) -> None:
        super().__init__()
        self.requests_timeout = requests_timeout
        #: the namespaces listened to (the router's, and dynamic ones while used)
        self._listened = NamespaceBook()

    # -- the transport (the subclass's) ---------------------------------------------------

    def do_listen(self, namespace: str) -> None:
        """Start receiving ``namespace``'s messages."""
        return None

    def do_unlisten(self, namespace: str) -> None:
        """Stop receiving ``namespace``'s messages."""
        return None

    def do_wait_listening(self, namespace: str, timeout: float) -> bool:
        """Block until ``namespace``'s messages (and responses) are received (True), or
        ``timeout`` passed."""
        return True

    # -- which namespaces ---------------------------------------------------------------

    def serve(self, namespaces: Iterable[str]) -> None:
        """The router's namespaces given by name, listened to for good (called by
        ``start`` before the transport starts)."""
        self._listened.serve(namespaces)

    @property
    def namespaces(self) -> List[str]:
        """The namespaces listened to now: the router's names, then those created from a
        pattern that have a connection here (or a request of ours waiting for answers)."""
        return self._listened.names()

    def listens_to(self, namespace: object) -> bool:
        """Whether other servers' messages about ``namespace`` are received now."""
        return namespace in self._listened

    def is_dynamic(self, namespace: str) -> bool:
        """Whether ``namespace`` is not one of the router's names (created from a pattern)."""
        return self._listened.is_dynamic(namespace)

    def add_namespace(self, namespace: str) -> None:
        if self._listened.add(namespace):
            self.do_listen(namespace)

    def on_namespace_created(self, namespace: str) -> None:
        if self._listened.opened(namespace):
            self.do_listen(namespace)

    def on_namespace_deleted(self, namespace: str) -> None:
        if self._listened.closed(namespace):
            self.do_unlisten(namespace)

    # -- requests about a namespace without a local connection ---------------------------

    def _hold(self, namespace: str, timeout: Optional[float]) -> Optional[float]:
        """Listen to ``namespace`` for a request of ours (a dynamic namespace without a
        local connection: node's ``io.of(name)``), waiting until it is received. Returns
        what is left of ``timeout`` for the request."""
        if self._listened.hold(namespace):
            self.do_listen(namespace)
        if not self._listened.is_dynamic(namespace) or namespace not in self._listened:
            return timeout
        budget = self.requests_timeout if timeout is None else timeout
        started = time.monotonic()
        self.do_wait_listening(namespace, budget)
        return max(0.0, budget - (time.monotonic() - started))

    def _release(self, namespace: str) -> None:
        if self._listened.release(namespace, self.count(namespace) > 0):
            self.do_unlisten(namespace)

    @contextmanager
    def _holding(self, namespace: str, timeout: Optional[float]) -> Iterator[Optional[float]]:
        """Hold ``namespace`` for a request; gives what is left of its ``timeout``."""
        left = self._hold(namespace, timeout)
        try:
            yield left
        finally:
            self._release(namespace)
