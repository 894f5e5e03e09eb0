"""RFC 6455 WebSockets, sans-I/O: the opening handshake, framing, and the frame decoder.

Nothing here touches a socket, a clock or gevent; :mod:`geventio.wsio` does the I/O. Drafts 8
and 7 (``Sec-WebSocket-Version`` 8, 7) frame the same way as version 13.

* Handshake: :func:`validate_rfc6455_request`, :func:`rfc6455_accept`, :func:`header_tokens`.
* Frames: :func:`parse_frame_header`, :func:`encode_frame`, :func:`apply_mask`,
  :func:`encode_close_payload`, :func:`parse_close_payload`.
* Reading a client: :class:`FrameDecoder`, fed bytes in any split, gives whole messages
  (``str`` for text, ``bytes`` for binary) and control frames (:class:`Ping`, :class:`Pong`,
  :class:`Close`), and refuses what breaks the protocol with a :class:`FrameError` carrying
  the close code to answer with (1002, 1007 or 1009).
"""
from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import struct
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "HandshakeError", "FrameError",
    "SUPPORTED_VERSIONS", "rfc6455_accept", "validate_rfc6455_request", "header_tokens",
    "OP_CONTINUATION", "OP_TEXT", "OP_BINARY", "OP_CLOSE", "OP_PING", "OP_PONG",
    "CLOSE_NORMAL", "CLOSE_GOING_AWAY", "CLOSE_PROTOCOL_ERROR", "CLOSE_UNSUPPORTED_DATA",
    "CLOSE_NO_STATUS", "CLOSE_ABNORMAL", "CLOSE_INVALID_DATA", "CLOSE_POLICY_VIOLATION",
    "CLOSE_TOO_BIG", "CLOSE_INTERNAL_ERROR",
    "FrameHeader", "frame_header_length", "parse_frame_header", "apply_mask", "encode_frame",
    "is_sendable_close_code", "encode_close_payload", "parse_close_payload",
    "Message", "FrameDecoder", "Event", "Ping", "Pong", "Close", "utf8_incremental_decoder",
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

#: A WebSocket message: str for text, bytes for binary.
Message = Union[str, bytes]
#: What bytes may be read from.
Buffer = Union[bytes, bytearray, memoryview]
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


#: The header length (2 to 14 bytes) for each value of a frame's second byte.
_HEADER_LENGTH = tuple((2 + {126: 2, 127: 8}.get(b1 & 0x7F, 0)) + (4 if b1 & 0x80 else 0)
                       for b1 in range(256))


def frame_header_length(first_two: Union[bytes, bytearray]) -> int:
    """The full header length (2 to 14 bytes) announced by a frame's first two bytes."""
    if len(first_two) < 2:
        raise ValueError("need the first two bytes of the frame header")
    return _HEADER_LENGTH[first_two[1]]


def parse_frame_header(data: Union[bytes, bytearray], rsv_allowed: int = 0) -> FrameHeader:
    """Decode a complete frame header (exactly :func:`frame_header_length` bytes).

    Raises :class:`FrameError` (close code 1002) for reserved bits, unknown opcodes,
    fragmented or over-long control frames, and a 64-bit length with its top bit set.
    ``rsv_allowed=4`` accepts RSV1 on the first frame of a data message (permessage-deflate
    negotiated, RFC 7692 §6), and only there. Masking requirements and size limits are the
    caller's policy.
    """
    if len(data) < 2 or len(data) != frame_header_length(data[:2]):
        raise ValueError("incomplete frame header: %d bytes" % len(data))
    b0, b1 = data[0], data[1]
    fin = bool(b0 & 0x80)
    rsv = (b0 >> 4) & 0x7
    opcode = b0 & 0x0F
    if rsv:
        if rsv & ~rsv_allowed:
            raise FrameError("byte 0 of the frame header sets reserved bits 0x%02x with no "
                             "extension negotiated" % (b0 & 0x70))
        if opcode >= 0x8 or opcode == OP_CONTINUATION:
            raise FrameError("byte 0 of the frame header: RSV1 on a %s frame; only the first "
                             "frame of a message may set it"
                             % ("control" if opcode >= 0x8 else "continuation"))
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


#: ``_XOR[k]``: the ``bytes.translate`` table that XORs every byte with ``k``.
_XOR = tuple(bytes(b ^ k for b in range(256)) for k in range(256))
#: From this many bytes on, unmasking goes through four strided ``translate`` calls (C loops
#: over the bytes) rather than one big-integer XOR: 1.5x faster at 2 KB, 1.7x at 32 KB.
_TRANSLATE_FROM = 256


def _xor(data: Buffer, mask: Union[bytes, bytearray]) -> bytes:
    """:func:`apply_mask` without its checks, as one big-integer XOR (for short data)."""
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def _unmask(data: Buffer, mask: Union[bytes, bytearray]) -> Union[bytes, bytearray]:
    """:func:`apply_mask` without its checks, for a big ``data`` giving a new bytearray."""
    if len(data) < _TRANSLATE_FROM:
        return _xor(data, mask)
    out = bytearray(data)
    out[0::4] = out[0::4].translate(_XOR[mask[0]])
    out[1::4] = out[1::4].translate(_XOR[mask[1]])
    out[2::4] = out[2::4].translate(_XOR[mask[2]])
    out[3::4] = out[3::4].translate(_XOR[mask[3]])
    return out


def apply_mask(data: Buffer, mask: Union[bytes, bytearray]) -> bytes:
    """XOR ``data`` with the 4-byte masking key (masking and unmasking are the same)."""
    if not len(data):
        return b""
    if len(mask) != 4:
        raise ValueError("a masking key is 4 bytes, got %d" % len(mask))
    out = _unmask(data, mask)
    return out if type(out) is bytes else bytes(out)


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True,
                 mask: Optional[bytes] = None, rsv1: bool = False) -> bytes:
    """One frame. Servers send unmasked frames; pass ``mask`` (4 bytes) to encode as a client.
    ``rsv1`` marks a compressed message (permessage-deflate)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (opcode & 0x0F)
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


# --------------------------------------------------------------------------- reading a client

@dataclass(frozen=True)
class Ping:
    """A ping from the peer: answer it with a pong carrying the same ``payload``."""

    payload: bytes


@dataclass(frozen=True)
class Pong:
    """A pong from the peer (nothing to do)."""

    payload: bytes


@dataclass(frozen=True)
class Close:
    """The peer's close frame: its status ``code`` (None when it sent none) and ``reason``."""

    code: Optional[int]
    reason: str


#: What :meth:`FrameDecoder.next_event` gives: a text message (str), a binary one (bytes) or a
#: control frame.
Event = Union[str, bytes, Ping, Pong, Close]


def _invalid_utf8(offset: int, exc: UnicodeDecodeError) -> FrameError:
    return FrameError("invalid UTF-8 in a text message near byte %d of the message (%s)"
                      % (offset + max(exc.start, 0), exc.reason), close_code=CLOSE_INVALID_DATA)


class FrameDecoder:
    """Incremental decoder of the frames a client sends (RFC 6455 §5), sans-I/O.

    :meth:`feed` it bytes as they arrive, split anywhere; :meth:`next_event` gives the next
    whole message (``str`` for text, ``bytes`` for binary; fragments are assembled) or control
    frame (:class:`Ping`, :class:`Pong`, :class:`Close`), or None when more bytes are needed:
    :attr:`needed` says how many at least. After the :class:`Close` nothing more is decoded
    (:attr:`closed`).

    Whatever breaks the protocol raises :class:`FrameError` with the close code to answer
    with, as soon as the frame that breaks it has arrived, or only its header when that is
    enough (the header is checked before its payload is buffered): 1002 for reserved bits,
    unknown opcodes, an unmasked frame, a fragmented or over-long (> 125 bytes) control
    frame, a continuation with no message to continue or a new message inside an unfinished
    one, and a bad close payload; 1007 for
    invalid UTF-8 in a text message (checked frame by frame, so a fragmented message fails at
    its first bad fragment) or a close reason; 1009 for a message over ``max_message_size``
    bytes (refused from the header that would take it over, before its payload is buffered).
    After a FrameError the decoder is in no defined state: the connection must be failed.
    (:class:`geventio.protocol.permessage_deflate.InflatingFrameDecoder` adds compressed
    messages, through :attr:`RSV_ALLOWED` and the ``_check`` / ``_assemble`` steps.)
    """

    #: An incomplete frame still missing more than this many bytes gathers the chunks fed to
    #: it in a list and joins them once it is whole (no re-copying of a big frame per chunk).
    GATHER_OVER = 16384
    #: Reserved bits an extension allows (a subclass's): none here.
    RSV_ALLOWED = 0

    __slots__ = ("max_message_size", "closed", "_buf", "_pos", "_need", "_chunks", "_have",
                 "_opcode", "_parts", "_size", "_utf8")

    def __init__(self, max_message_size: int = 1_000_000) -> None:
        if max_message_size < 0:
            raise ValueError("max_message_size must be >= 0")
        self.max_message_size = max_message_size
        #: True once the peer's close frame was decoded: later bytes are ignored.
        self.closed = False
        # Bytes fed and not decoded yet: _buf from _pos on. _need: the bytes (from _pos) the
        # frame in progress needs in all, set whenever next_event returns None.
        self._buf: Union[bytes, bytearray] = b""
        self._pos = 0
        self._need = 2
        # A big incomplete frame: its chunks so far (None: not gathering) and their size.
        self._chunks: Optional[List[Union[bytes, bytearray]]] = None
        self._have = 0
        # The fragmented message being assembled: its opcode (None: none), parts, size so far
        # and, for text, its incremental UTF-8 decoder.
        self._opcode: Optional[int] = None
        self._parts: List[Any] = []
        self._size = 0
        self._utf8: Optional[codecs.IncrementalDecoder] = None

    @property
    def buffered(self) -> int:
        """How many bytes were fed and not decoded yet."""
        if self._chunks is not None:
            return self._have
        return len(self._buf) - self._pos

    @property
    def needed(self) -> int:
        """After :meth:`next_event` returned None: how many more bytes must be fed, at least,
        before it can give something (the rest of the frame in progress, or of its header)."""
        have = self._have if self._chunks is not None else len(self._buf) - self._pos
        return self._need - have if self._need > have else 1

    def feed(self, data: Union[bytes, bytearray]) -> None:
        """Add bytes received from the client (keeps a reference: do not change them later).
        Ignored once :attr:`closed`."""
        if self.closed or not data:
            return
        chunks = self._chunks
        if chunks is not None:
            chunks.append(data)
            self._have += len(data)
            if self._have >= self._need:
                self._buf, self._pos, self._chunks = b"".join(chunks), 0, None
        elif self._pos < len(self._buf):
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        else:
            self._buf, self._pos = data, 0

    def next_event(self) -> Optional[Event]:
        """The next message or control frame whose bytes have all been fed, else None.

        Raises :class:`FrameError` when the bytes break the protocol.
        """
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail >= 6 and self._opcode is None:
            # The usual case, inline: a whole small masked data frame, not fragmented.
            b0 = buf[pos]
            size = buf[pos + 1] - 0x80  # masked, 7-bit length
            if (b0 == 0x81 or b0 == 0x82) and 0 <= size < 126 and size <= self.max_message_size:
                end = pos + 6 + size
                if end <= len(buf):
                    payload = _xor(buf[pos + 6:end], buf[pos + 2:pos + 6])
                    if end == len(buf):
                        self._buf, self._pos = b"", 0
                    else:
                        self._pos = end
                    if b0 == 0x82:
                        return payload
                    try:
                        return payload.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise _invalid_utf8(0, exc) from None
        elif not avail:  # nothing buffered (or a big frame being gathered)
            if self._chunks is None:
                self._need = 2
            return None
        return self._next_frames()

    def _next_frames(self) -> Optional[Event]:
        """The general way: any frame, fragments, control frames, big and partial frames."""
        if self.closed or self._chunks is not None:
            return None
        buf = self._buf
        pos = self._pos
        n = len(buf)
        while True:
            if n - pos < 2:
                self._wait(buf, pos, 2)
                return None
            hlen = _HEADER_LENGTH[buf[pos + 1]]
            if n - pos < hlen:
                self._wait(buf, pos, hlen)
                return None
            header = parse_frame_header(buf[pos:pos + hlen], self.RSV_ALLOWED)
            mask = self._check(header)
            start = pos + hlen
            end = start + header.length
            if end > n:
                self._wait(buf, pos, end - pos)
                return None
            # (a big payload is unmasked from a view: one copy fewer; it comes back as a
            # bytearray, decoded as it is, or made bytes by _assemble)
            data = buf[start:end] if header.length < _TRANSLATE_FROM else \
                memoryview(buf)[start:end]
            payload = _unmask(data, mask) if data else b""
            pos = end
            if pos >= n:
                self._buf, self._pos = b"", 0
            else:
                self._pos = pos
            opcode = header.opcode
            if opcode == OP_PING:  # (control payloads are short: bytes already, no copy)
                return Ping(bytes(payload))
            if opcode == OP_PONG:
                return Pong(bytes(payload))
            if opcode == OP_CLOSE:
                self.closed = True
                self._buf, self._pos = b"", 0
                code, reason = parse_close_payload(bytes(payload))
                return Close(code, reason)
            message = self._assemble(opcode, header.fin, payload)
            if message is not None:
                return message

    def _wait(self, buf: Union[bytes, bytearray], pos: int, need: int) -> None:
        """The frame at ``pos`` is incomplete and needs ``need`` bytes in all: keep what is
        here; when much more is missing, gather the coming chunks in a list."""
        rest = buf[pos:] if pos else buf
        self._need = need
        if need - len(rest) > self.GATHER_OVER:
            self._chunks, self._have = [rest], len(rest)
            self._buf, self._pos = b"", 0
        else:
            self._buf, self._pos = rest, 0

    def _check(self, header: FrameHeader) -> bytes:
        """Refuse a frame that may not come now, from its header alone (before its payload
        is buffered; parse_frame_header has checked what a header alone can break). Returns
        the masking key."""
        mask = header.mask
        if mask is None:
            raise FrameError("byte 1 of the frame header: the mask bit is 0, but client "
                             "frames must be masked")
        if header.opcode < 0x8:
            if header.opcode == OP_CONTINUATION and self._opcode is None:
                raise FrameError("byte 0 of the frame header: continuation frame with no "
                                 "message to continue")
            if header.opcode != OP_CONTINUATION and self._opcode is not None:
                raise FrameError("byte 0 of the frame header: new data frame (opcode 0x%x) "
                                 "inside an unfinished fragmented message" % header.opcode)
            if self._size + header.length > self.max_message_size:
                raise FrameError("message of at least %d bytes exceeds max_message_size %d"
                                 % (self._size + header.length, self.max_message_size),
                                 close_code=CLOSE_TOO_BIG)
        return mask

    def _assemble(self, opcode: int, fin: bool,
                  payload: Union[bytes, bytearray]) -> Optional[Message]:
        """Add a data frame to the message; the message once whole, else None."""
        if self._opcode is None:
            if fin:  # a whole message in one frame
                if opcode == OP_BINARY:
                    return payload if type(payload) is bytes else bytes(payload)
                try:
                    return payload.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _invalid_utf8(0, exc) from None
            self._opcode = opcode
            self._utf8 = utf8_incremental_decoder() if opcode == OP_TEXT else None
        offset = self._size
        self._size += len(payload)
        utf8 = self._utf8
        if utf8 is not None:
            try:
                self._parts.append(utf8.decode(payload, fin))
            except UnicodeDecodeError as exc:
                raise _invalid_utf8(offset, exc) from None
        else:
            self._parts.append(payload)
        if not fin:
            return None
        parts = self._parts
        message: Message = "".join(parts) if utf8 is not None else b"".join(parts)
        self._opcode, self._parts, self._size, self._utf8 = None, [], 0, None
        return message


def utf8_incremental_decoder() -> codecs.IncrementalDecoder:
    """A strict incremental UTF-8 decoder (fails at the first invalid byte, even mid-message)."""
    return codecs.getincrementaldecoder("utf-8")("strict")
