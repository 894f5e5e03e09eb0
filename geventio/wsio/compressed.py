"""An RFC 6455 WebSocket with permessage-deflate (RFC 7692) agreed in its handshake.

:class:`CompressedWebSocket` differs from :class:`~geventio.wsio.connection.RFC6455WebSocket`
only in its frames: each message it sends goes through the connection's
:class:`~geventio.protocol.permessage_deflate.PerMessageDeflate` (compressed, RSV1 set, from
the threshold up), and its frame decoder is an
:class:`~geventio.protocol.permessage_deflate.InflatingFrameDecoder`, which inflates the
messages the client compressed. An uncompressed WebSocket therefore pays nothing for the
extension's existence.
"""
from __future__ import annotations

from typing import Any, Optional

from ..protocol.permessage_deflate import InflatingFrameDecoder, PerMessageDeflate
from ..protocol.rfc6455 import Message
from .connection import RFC6455WebSocket, WriteCallable

__all__ = ["CompressedWebSocket"]


class CompressedWebSocket(RFC6455WebSocket):
    """An RFC 6455 WebSocket whose messages may be compressed (permessage-deflate)."""

    __slots__ = ("_pmd",)

    def __init__(self, stream: Any, write: WriteCallable, *, deflate: PerMessageDeflate,
                 version: str = "13", max_message_size: int = 1_000_000,
                 close_timeout: float = 5.0, sock: Any = None) -> None:
        super().__init__(stream, write, version=version, max_message_size=max_message_size,
                         close_timeout=close_timeout, sock=sock)
        self._pmd = deflate
        self._decoder = InflatingFrameDecoder(max_message_size, deflate)

    @property
    def extensions(self) -> str:
        return self._pmd.header

    @property
    def deflate(self) -> Optional[PerMessageDeflate]:
        return self._pmd

    def _encode(self, message: Message) -> bytes:
        return self._pmd.frame(message)
