"""The message queue (a cluster adapter URL) that routers made without an adapter use:
``geventio-serve --message-queue URL`` sets it before the application is imported."""
from __future__ import annotations

from typing import Optional

_url: Optional[str] = None


def set_default(url: Optional[str]) -> None:
    """Routers created from now on without an adapter get one for ``url`` (None: the
    in-memory adapter, this process only)."""
    global _url
    _url = url


def default() -> Optional[str]:
    """The URL set by :func:`set_default`, or None."""
    return _url
