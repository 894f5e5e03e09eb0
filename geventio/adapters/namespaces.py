"""NamespaceBook: which namespaces a cluster adapter listens to on its transport.

The router's namespaces given by name are listened to for the adapter's whole life. A
namespace created from a pattern (node's dynamic namespaces, a child of a parent namespace)
is listened to while it has a connection in this process, as node's child namespace has an
adapter of its own from its first client on (and, with node's
``cleanupEmptyChildNamespaces``, until its last one leaves), and while a request of this
process about it waits for the other servers' answers (node's ``io.of(name)`` on a server
where the namespace has no client). So what is listened to is bounded by the connections
and the requests in flight, and by ``MAX_DYNAMIC_NAMESPACES``: beyond it a new one is
served by this process alone (logged), its other processes' broadcasts not reaching it.
"""
from __future__ import annotations

import logging
from typing import Dict, Iterable, List, Set

log = logging.getLogger(__name__)

#: most namespaces created from a pattern that one adapter listens to at once
MAX_DYNAMIC_NAMESPACES = 10_000


class NamespaceBook:
    """The namespaces listened to: the router's names, and dynamic ones while used."""

    __slots__ = ("_static", "_dynamic", "_holds")

    def __init__(self, static: Iterable[str] = ("/",)) -> None:
        self._static: List[str] = list(dict.fromkeys(static))
        self._dynamic: Set[str] = set()
        self._holds: Dict[str, int] = {}

    def serve(self, static: Iterable[str]) -> None:
        """The router's namespaces given by name (replaces those given before)."""
        self._static = list(dict.fromkeys(static))

    def add(self, namespace: str) -> bool:
        """``namespace`` joins the router's names after :meth:`serve` (the Admin UI's):
        True when listening starts now (False when it already listened to it)."""
        if namespace in self._static:
            return False
        self._static.append(namespace)
        if namespace in self._dynamic:
            self._dynamic.discard(namespace)
            return False
        return True

    def __contains__(self, namespace: object) -> bool:
        return namespace in self._dynamic or namespace in self._static

    def names(self) -> List[str]:
        """Every namespace listened to now: the router's, then the dynamic ones."""
        return self._static + sorted(self._dynamic - set(self._static))

    def is_dynamic(self, namespace: str) -> bool:
        """Whether ``namespace`` is not one of the router's names."""
        return namespace not in self._static

    def opened(self, namespace: str) -> bool:
        """``namespace`` got its first local connection: True when listening starts now."""
        if namespace in self:
            return False
        if len(self._dynamic) >= MAX_DYNAMIC_NAMESPACES:
            log.warning("%d namespaces created from patterns are listened to already: %s is "
                        "served by this process only", len(self._dynamic), namespace)
            return False
        self._dynamic.add(namespace)
        return True

    def closed(self, namespace: str) -> bool:
        """``namespace`` lost its last local connection: True when listening stops now."""
        if namespace not in self._dynamic or self._holds.get(namespace):
            return False
        self._dynamic.discard(namespace)
        return True

    def hold(self, namespace: str) -> bool:
        """A request about ``namespace`` starts: True when listening starts now."""
        if not self.is_dynamic(namespace):
            return False
        self._holds[namespace] = self._holds.get(namespace, 0) + 1
        return self.opened(namespace)

    def release(self, namespace: str, connected: bool) -> bool:
        """A request about ``namespace`` ended (``connected``: it has local connections):
        True when listening stops now."""
        held = self._holds.get(namespace, 0)
        if held <= 0:
            return False
        if held > 1:
            self._holds[namespace] = held - 1
            return False
        del self._holds[namespace]
        return not connected and self.closed(namespace)
