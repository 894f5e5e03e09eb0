"""Adapters: where a router's rooms live and how a broadcast reaches its connections.

:class:`~geventio.adapters.base.Adapter` declares the interface; the in-memory
:class:`~geventio.adapters.memory.InMemoryAdapter` (this process only) is the default.
"""
from .base import Adapter, BroadcastOptions, Target
from .memory import InMemoryAdapter

__all__ = ["Adapter", "BroadcastOptions", "InMemoryAdapter", "Target"]
