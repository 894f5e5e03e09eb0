"""WebSocket wire formats, sans-I/O: handshakes and framing for RFC 6455 and hixie-76.

Nothing here touches a socket, a clock or gevent; :mod:`geventio.websocket` does the I/O.

* RFC 6455 (``Sec-WebSocket-Version`` 13, and the drafts 8 and 7 which frame the same way):
  :func:`validate_rfc6455_request`, :func:`rfc6455_accept`, :func:`parse_frame_header`,
  :func:`encode_frame`, :func:`apply_mask`, :func:`encode_close_payload`,
  :func:`parse_close_payload`.
* hixie-76 (draft-hixie-thewebsocketprotocol-76, spoken by the Flash SWF bundled with the
  socket.io 0.6 client and by Safari <= 5): :func:`hixie76_answer`, :func:`hixie76_frame`,
  :class:`Hixie76Decoder`.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import struct
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

__all__ = [
    "HandshakeError", "FrameError",
    "SUPPORTED_VERSIONS", "rfc6455_accept", "validate_rfc6455_request", "header_tokens",
    "OP_CONTINUATION", "OP_TEXT", "OP_BINARY", "OP_CLOSE", "OP_PING", "OP_PONG",
    "CLOSE_NORMAL", "CLOSE_GOING_AWAY", "CLOSE_PROTOCOL_ERROR", "CLOSE_UNSUPPORTED_DATA",
    "CLOSE_NO_STATUS", "CLOSE_ABNORMAL", "CLOSE_INVALID_DATA", "CLOSE_POLICY_VIOLATION",
    "CLOSE_TOO_BIG", "CLOSE_INTERNAL_ERROR",
    "FrameHeader", "frame_header_length", "parse_frame_header", "apply_mask", "encode_frame",
    "is_sendable_close_code", "encode_close_payload", "parse_close_payload",
    "hixie76_answer", "hixie76_frame", "HIXIE76_CLOSE", "Hixie76Decoder",
]

#: RFC 6455 §1.3: appended to the client's key before hashing.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: ``Sec-WebSocket-Version`` values framed as RFC 6455 (7 and 8 are the hybi drafts).
SUPPORTED_VERSIONS: Tuple[str, ...] = ("13", "8", "7")

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_KNOWN_OPCODES = frozenset((OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG))

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005  # never on the wire: "the close frame had no status code"
CLOSE_ABNORMAL = 1006  # never on the wire: "the connection dropped without a close frame"
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

_MAX_CONTROL_PAYLOAD = 125
_MAX_CLOSE_REASON = _MAX_CONTROL_PAYLOAD - 2


class HandshakeError(ValueError):
    """The client's opening handshake is unacceptable.

    ``status`` is the HTTP status line to answer with (e.g. ``'400 Bad Request'``) and
    ``headers`` any headers that answer should carry (e.g. ``Sec-WebSocket-Version``).
    """

    def __init__(self, message: str, status: str = "400 Bad Request",
                 headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = list(headers)


class FrameError(ValueError):
    """The peer sent bytes that break the framing rules.

    ``close_code`` is the RFC 6455 status code to close with (1002 protocol error,
    1007 invalid UTF-8, 1009 message too big); ``offset`` is the stream offset of the
    offending byte when it is known (hixie-76), else None.
    """

    def __init__(self, message: str, close_code: int = CLOSE_PROTOCOL_ERROR,
                 offset: Optional[int] = None) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.offset = offset


# --------------------------------------------------------------------------- RFC 6455 handshake

def rfc6455_accept(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def header_tokens(value: Optional[str]) -> set:
    """The comma-separated tokens of a header value, lower-cased (``'keep-alive, Upgrade'``)."""
    if not value:
        return set()
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def _lower_keys(headers: Mapping[str, str]) -> dict:
    return {str(name).lower(): value for name, value in headers.items()}


def validate_rfc6455_request(headers: Mapping[str, str]) -> str:
    """Check an RFC 6455 opening handshake's headers; return the ``Sec-WebSocket-Key``.

    ``headers`` maps header names (any case) to values. Raises :class:`HandshakeError`:
    426 when ``Sec-WebSocket-Version`` is missing, 400 for everything else (no
    ``Upgrade: websocket``, no ``Connection: upgrade``, an unsupported version, a key that
    is not the base64 of 16 bytes). The method and HTTP version are the caller's to check.
    """
    h = _lower_keys(headers)
    if "websocket" not in header_tokens(h.get("upgrade")):
        raise HandshakeError("the Upgrade header does not name websocket: %r" % (h.get("upgrade"),))
    if "upgrade" not in header_tokens(h.get("connection")):
        raise HandshakeError("the Connection header does not contain 'upgrade': %r"
                             % (h.get("connection"),))
    version_headers = [("Sec-WebSocket-Version", ", ".join(SUPPORTED_VERSIONS))]
    version = (h.get("sec-websocket-version") or "").strip()
    if not version:
        raise HandshakeError("the Sec-WebSocket-Version header is missing",
                             status="426 Upgrade Required", headers=version_headers)
    if version not in SUPPORTED_VERSIONS:
        raise HandshakeError("unsupported Sec-WebSocket-Version %r (supported: %s)"
                             % (version, ", ".join(SUPPORTED_VERSIONS)), headers=version_headers)
    key = (h.get("sec-websocket-key") or "").strip()
    if not key:
        raise HandshakeError("the Sec-WebSocket-Key header is missing or empty")
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HandshakeError("Sec-WebSocket-Key %r is not valid base64" % (key,)) from None
    if len(raw) != 16:
        raise HandshakeError("Sec-WebSocket-Key %r decodes to %d bytes, not 16" % (key, len(raw)))
    return key


# --------------------------------------------------------------------------- RFC 6455 framing

@dataclass
class FrameHeader:
    """One RFC 6455 frame header. ``mask`` is the 4-byte masking key or None."""

    fin: bool
    opcode: int
    length: int
    mask: Optional[bytes] = None
    rsv: int = 0

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8


def frame_header_length(first_two: bytes) -> int:
    """The full header length (2 to 14 bytes) announced by a frame's first two bytes."""
    if len(first_two) < 2:
        raise ValueError("need the first two bytes of the frame header")
    b1 = first_two[1]
    n = 2 + {126: 2, 127: 8}.get(b1 & 0x7F, 0)
    return n + 4 if b1 & 0x80 else n


def parse_frame_header(data: bytes) -> FrameHeader:
    """Decode a complete frame header (exactly :func:`frame_header_length` bytes).

    Raises :class:`FrameError` (close code 1002) for reserved bits, unknown opcodes,
    fragmented or over-long control frames, and a 64-bit length with its top bit set.
    Masking requirements and size limits are the caller's policy.
    """
    if len(data) < 2 or len(data) != frame_header_length(data[:2]):
        raise ValueError("incomplete frame header: %d bytes" % len(data))
    b0, b1 = data[0], data[1]
    fin = bool(b0 & 0x80)
    rsv = (b0 >> 4) & 0x7
    opcode = b0 & 0x0F
    if rsv:
        raise FrameError("byte 0 of the frame header sets reserved bits 0x%02x with no extension "
                         "negotiated" % (b0 & 0x70))
    if opcode not in _KNOWN_OPCODES:
        raise FrameError("byte 0 of the frame header has reserved opcode 0x%x" % opcode)
    length = b1 & 0x7F
    pos = 2
    if length == 126:
        length = struct.unpack_from("!H", data, pos)[0]
        pos += 2
    elif length == 127:
        length = struct.unpack_from("!Q", data, pos)[0]
        pos += 8
        if length >> 63:
            raise FrameError("bytes 2-9 of the frame header: 64-bit payload length has its "
                             "most significant bit set")
    if opcode >= 0x8:
        if not fin:
            raise FrameError("byte 0 of the frame header: control frame (opcode 0x%x) is "
                             "fragmented" % opcode)
        if length > _MAX_CONTROL_PAYLOAD:
            raise FrameError("byte 1 of the frame header: control frame payload of %d bytes "
                             "exceeds 125" % length)
    mask = bytes(data[pos:pos + 4]) if b1 & 0x80 else None
    return FrameHeader(fin=fin, opcode=opcode, length=length, mask=mask, rsv=rsv)


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking key (masking and unmasking are the same)."""
    n = len(data)
    if not n:
        return b""
    if len(mask) != 4:
        raise ValueError("a masking key is 4 bytes, got %d" % len(mask))
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True,
                 mask: Optional[bytes] = None) -> bytes:
    """One frame. Servers send unmasked frames; pass ``mask`` (4 bytes) to encode as a client."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | (opcode & 0x0F)
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        header = struct.pack("!BB", b0, mask_bit | n)
    elif n < 0x10000:
        header = struct.pack("!BBH", b0, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mask_bit | 127, n)
    if mask is None:
        return header + bytes(payload)
    return header + bytes(mask) + apply_mask(bytes(payload), mask)


def is_sendable_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (RFC 6455 §7.4)."""
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) \
        or 3000 <= code <= 4999


def encode_close_payload(code: Optional[int] = CLOSE_NORMAL, reason: str = "") -> bytes:
    """A close frame's payload: the 2-byte code and the UTF-8 reason cut to fit 125 bytes.

    ``code=None`` (or a code that cannot appear on the wire, like 1005) gives an empty payload.
    """
    if code is None or not is_sendable_close_code(code):
        return b""
    raw = reason.encode("utf-8")
    if len(raw) > _MAX_CLOSE_REASON:
        raw = raw[:_MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")
    return struct.pack("!H", code) + raw


def parse_close_payload(payload: bytes) -> Tuple[Optional[int], str]:
    """Decode a received close frame's payload into ``(code or None, reason)``.

    Raises :class:`FrameError`: 1002 for a 1-byte payload or a code that may not be sent,
    1007 for a reason that is not UTF-8.
    """
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise FrameError("close frame payload is 1 byte; a status code needs 2")
    code = struct.unpack_from("!H", payload)[0]
    if not is_sendable_close_code(code):
        raise FrameError("close frame carries status code %d, which may not be sent" % code)
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError("close frame reason is not valid UTF-8 at byte %d of the payload"
                         % (exc.start + 2), close_code=CLOSE_INVALID_DATA) from None
    return code, reason


# --------------------------------------------------------------------------- hixie-76

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


def utf8_incremental_decoder() -> codecs.IncrementalDecoder:
    """A strict incremental UTF-8 decoder (fails at the first invalid byte, even mid-message)."""
    return codecs.getincrementaldecoder("utf-8")("strict")
