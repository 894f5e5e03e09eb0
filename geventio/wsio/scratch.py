"""The process-wide receive buffer of RFC 6455 reads.

A read from a socket lands here and is copied out at once into a ``bytes`` of its exact
size (no other greenlet runs between the two), so one 16 KiB buffer serves every
connection: an idle WebSocket holds no read buffer of its own.
"""
from __future__ import annotations

__all__ = ["SCRATCH", "SCRATCH_SIZE", "SCRATCH_VIEW"]

SCRATCH_SIZE = 16384
SCRATCH = bytearray(SCRATCH_SIZE)
SCRATCH_VIEW = memoryview(SCRATCH)
