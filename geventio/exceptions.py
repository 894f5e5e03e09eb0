"""The exceptions geventio raises to users."""
from __future__ import annotations

from typing import Any, List, Optional


class GeventioError(Exception):
    """Base class of geventio's own exceptions."""


class ConnectionRefused(GeventioError):
    """Raise from ``on_open`` to refuse a connection.

    Modern clients receive CONNECT_ERROR ``{"message": message[, "data": data]}``; a 0.6
    client's session simply ends.
    """

    def __init__(self, message: str = "Connection refused", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class TimeoutError(GeventioError):  # noqa: A001 - the public name is fixed by the API
    """``call()`` got no acknowledgement in time. ``responses``: the acknowledgements that
    came before the timeout (``Router.call``; empty for ``conn.call``)."""

    def __init__(self, message: str = "timeout", responses: Optional[List[Any]] = None) -> None:
        super().__init__(message)
        self.responses: List[Any] = list(responses) if responses else []


class ConnectionClosed(GeventioError):
    """The connection closed while an operation was waiting on it."""


class NotSupported(GeventioError):
    """The client's protocol generation cannot do this (e.g. acks for a 0.6 client)."""
