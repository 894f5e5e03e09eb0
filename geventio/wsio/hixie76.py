"""A hixie-76 WebSocket (the socket.io 0.6 Flash SWF, Safari <= 5), read by a greenlet."""
from __future__ import annotations

import collections
import logging
from typing import Any, Optional

from ..protocol.hixie76 import HIXIE76_CLOSE, Hixie76Decoder, hixie76_frame
from ..protocol.rfc6455 import FrameError
from .connection import Message, WebSocket, WriteCallable

__all__ = ["Hixie76WebSocket"]

log = logging.getLogger(__name__)

_READ_CHUNK = 65536


class Hixie76WebSocket(WebSocket):
    """hixie-76 framing: ``0x00`` + UTF-8 + ``0xFF`` text frames, ``0xFF 0x00`` to close."""

    __slots__ = ("_decoder", "_pending", "_read_some")

    def __init__(self, stream: Any, write: WriteCallable, *, max_message_size: int = 1_000_000,
                 close_timeout: float = 5.0, sock: Any = None) -> None:
        super().__init__(stream, write, max_message_size=max_message_size,
                         close_timeout=close_timeout, sock=sock)
        self.version = "hixie-76"
        self._decoder = Hixie76Decoder(max_message_size)
        self._pending: collections.deque = collections.deque()
        self._read_some = getattr(stream, "read1", None) or (lambda n: stream.read(1))

    def _encode(self, message: Message) -> bytes:
        if isinstance(message, str):
            return hixie76_frame(message)
        raise TypeError("hixie-76 carries text only, not %s" % type(message).__name__)

    def _close_frame(self, code: Optional[int], reason: str) -> bytes:
        return HIXIE76_CLOSE

    def _receive(self) -> Optional[Message]:
        while True:
            if self._pending and not self._close_sent:
                return self._pending.popleft()
            if self._decoder.closed:
                log.debug("WebSocket hixie-76 peer closed")
                self._send_close_once(None)
                self._terminate()
                return None
            try:
                data = self._read_some(_READ_CHUNK)
            except OSError as exc:
                log.debug("WebSocket connection broke while reading: %s", exc)
                data = b""
            if not data:
                self._terminate()
                return None
            try:
                messages = self._decoder.feed(data)
            except FrameError as exc:
                self._fail(exc)
                return None
            if not self._close_sent:  # once we sent the close, data is dropped
                self._pending.extend(messages)
