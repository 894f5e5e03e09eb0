"""hixie-76 (draft-hixie-thewebsocketprotocol-76), sans-I/O: the handshake answer and framing.

Spoken by the Flash SWF bundled with the socket.io 0.6 client (flashsocket) and by Safari <= 5.
:func:`hixie76_answer` answers the handshake, :func:`hixie76_frame` encodes a text frame and
:class:`Hixie76Decoder` decodes a client's stream. Errors are those of RFC 6455
(:class:`~geventio.protocol.rfc6455.FrameError` with its close codes) so that both framings
fail the same way. Nothing here touches a socket, a clock or gevent.
"""
from __future__ import annotations

import hashlib
import struct

from .rfc6455 import CLOSE_INVALID_DATA, CLOSE_TOO_BIG, FrameError, HandshakeError

__all__ = ["hixie76_answer", "hixie76_frame", "HIXIE76_CLOSE", "Hixie76Decoder"]

#: The hixie-76 closing handshake: both sides send these two bytes.
HIXIE76_CLOSE = b"\xff\x00"


def _hixie76_key_number(name: str, key: str) -> int:
    digits = "".join(ch for ch in key if "0" <= ch <= "9")
    spaces = key.count(" ")
    if not digits:
        raise HandshakeError("%s %r contains no digits" % (name, key))
    if spaces == 0:
        raise HandshakeError("%s %r contains no spaces" % (name, key))
    number = int(digits)
    if number > 0xFFFFFFFF:
        raise HandshakeError("%s %r: the number %d does not fit in 32 bits" % (name, key, number))
    if number % spaces:
        raise HandshakeError("%s %r: %d is not an integral multiple of its %d spaces"
                             % (name, key, number, spaces))
    return number // spaces


def hixie76_answer(key1: str, key2: str, key3: bytes) -> bytes:
    """The 16-byte challenge answer of a hixie-76 handshake.

    MD5 of the two key numbers (digits divided by the count of spaces, as 32-bit big-endian)
    followed by the 8 bytes the client sent after its headers. Raises :class:`HandshakeError`.
    """
    if len(key3) != 8:
        raise HandshakeError("the hixie-76 key3 must be 8 bytes, got %d" % len(key3))
    n1 = _hixie76_key_number("Sec-WebSocket-Key1", key1)
    n2 = _hixie76_key_number("Sec-WebSocket-Key2", key2)
    return hashlib.md5(struct.pack("!II", n1, n2) + bytes(key3)).digest()


def hixie76_frame(text: str) -> bytes:
    """One hixie-76 text frame: ``0x00``, the UTF-8 bytes, ``0xFF``."""
    return b"\x00" + text.encode("utf-8") + b"\xff"


class Hixie76Decoder:
    """Incremental decoder of a hixie-76 client stream (text frames and the closing handshake).

    :meth:`feed` returns the complete messages; :attr:`closed` becomes True on ``0xFF 0x00``
    (anything after it is ignored). At most ``max_message_size`` bytes of one message are
    buffered; a longer one raises :class:`FrameError` (close code 1009).
    """

    _TYPE, _TEXT, _CLOSING = range(3)

    def __init__(self, max_message_size: int) -> None:
        if max_message_size < 0:
            raise ValueError("max_message_size must be >= 0")
        self.max_message_size = max_message_size
        self.closed = False
        self._state = self._TYPE
        self._buffer = bytearray()
        self._offset = 0  # stream offset of data[0] in the current feed
        self._message_start = 0  # stream offset of the current message's first payload byte

    def feed(self, data: bytes) -> list:
        """Decode ``data`` (any split of the stream); return the whole messages it completes."""
        messages = []
        pos, end = 0, len(data)
        while pos < end and not self.closed:
            if self._state == self._TYPE:
                kind = data[pos]
                if kind == 0x00:
                    self._state = self._TEXT
                    self._message_start = self._offset + pos + 1
                elif kind == 0xFF:
                    self._state = self._CLOSING
                else:
                    raise FrameError("byte offset %d: frame type 0x%02x (only 0x00 text frames "
                                     "and the 0xFF 0x00 close are allowed)"
                                     % (self._offset + pos, kind), offset=self._offset + pos)
                pos += 1
            elif self._state == self._CLOSING:
                if data[pos] != 0x00:
                    raise FrameError("byte offset %d: 0x%02x after 0xFF; the closing handshake "
                                     "is 0xFF 0x00" % (self._offset + pos, data[pos]),
                                     offset=self._offset + pos)
                pos += 1
                self.closed = True
            else:  # inside a text frame
                stop = data.find(b"\xff", pos)
                chunk_end = end if stop < 0 else stop
                if len(self._buffer) + (chunk_end - pos) > self.max_message_size:
                    raise FrameError("byte offset %d: message exceeds max_message_size of %d bytes"
                                     % (self._message_start + self.max_message_size,
                                        self.max_message_size),
                                     close_code=CLOSE_TOO_BIG,
                                     offset=self._message_start + self.max_message_size)
                self._buffer += data[pos:chunk_end]
                pos = chunk_end
                if stop >= 0:
                    messages.append(self._finish_message())
                    pos += 1
                    self._state = self._TYPE
        self._offset += end
        return messages

    def _finish_message(self) -> str:
        raw = bytes(self._buffer)
        self._buffer = bytearray()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = self._message_start + exc.start
            raise FrameError("byte offset %d: invalid UTF-8 in a text frame (%s)"
                             % (offset, exc.reason), close_code=CLOSE_INVALID_DATA,
                             offset=offset) from None
