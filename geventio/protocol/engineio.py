"""Engine.IO packet and payload codecs, protocol revisions 3 and 4 (sans-I/O).

Text and bytes in, :class:`Packet` objects out, and back. Nothing here touches a socket, a
clock or gevent; every malformed input raises :class:`ProtocolError`, whose message names what
was wrong and the offset where it was found.

Packet (both revisions), as a WebSocket frame or inside a payload::

    text packet    = type-digit [data]          ; "4hello", "2probe", "6"
    type-digit     = "0" / "1" / "2" / "3" / "4" / "5" / "6"
                     ; open close ping pong message upgrade noop

Revision 4 (socket.io-client 3.x/4.x):

* WebSocket: a text frame is a text packet; a binary frame is a MESSAGE whose data is the
  frame's bytes (there is no type byte).
* Polling payload (request and response bodies, always text)::

      payload  = packet *( %x1E packet )        ; "4hello\\x1e2\\x1e4€"
      packet   = text-packet / "b" base64       ; "bAQIDBA==" is MESSAGE b'\\x01\\x02\\x03\\x04'

Revision 3 (socket.io-client 1.x/2.x):

* WebSocket: a text frame is a text packet; a binary frame is one type byte (0-6, not the
  ASCII digit) followed by the data: ``b'\\x04\\x01\\x02'`` is MESSAGE b'\\x01\\x02'.
* Text payload::

      payload  = "0:" / 1*( length ":" packet )
      length   = 1*DIGIT                         ; packet length in UTF-16 code units
      packet   = text-packet / "b" type-digit base64

  The length counts UTF-16 code units like JavaScript's ``String.length``: "4€" is 2,
  "4😀" is 3.
* Binary payload (XHR2 clients, sent only when at least one packet is binary)::

      payload  = 1*( kind 1*len-digit %xFF body )
      kind     = %x00 (body is a UTF-8 text packet) / %x01 (body is type byte + data)
      len-digit= %x00-09                         ; decimal digits as byte values, not ASCII
                                                 ; the length counts bytes of body

Base64 is decoded strictly (standard alphabet, correct padding). Node's Buffer decoder is
lenient; engine.io clients always send padded standard base64.
"""
from __future__ import annotations

import binascii
import enum
from dataclasses import dataclass
from typing import Iterable, Sequence
from urllib.parse import quote

import simplejson as json

# Built once: json.dumps() with keyword arguments builds a new encoder on every call.
_ENCODE_COMPACT = json.JSONEncoder(separators=(',', ':'), ensure_ascii=False).encode

__all__ = [
    'PacketType', 'OPEN', 'CLOSE', 'PING', 'PONG', 'MESSAGE', 'UPGRADE', 'NOOP',
    'Packet', 'ProtocolError',
    'encode_packet', 'decode_packet', 'encode_payload', 'decode_payload',
    'encode_packet_v3', 'decode_packet_v3', 'encode_payload_v3', 'decode_payload_v3',
    'utf16_len', 'open_packet_data', 'error_body', 'error_status', 'ERROR_MESSAGES',
    'SEPARATOR', 'handshake_cookie',
]


class PacketType(enum.IntEnum):
    """Engine.IO packet types (identical in revisions 3 and 4)."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


OPEN = PacketType.OPEN
CLOSE = PacketType.CLOSE
PING = PacketType.PING
PONG = PacketType.PONG
MESSAGE = PacketType.MESSAGE
UPGRADE = PacketType.UPGRADE
NOOP = PacketType.NOOP

#: v4 polling payload separator (ASCII record separator).
SEPARATOR = '\x1e'

_TYPE_BY_CHAR = {str(int(t)): t for t in PacketType}
#: Length prefixes longer than this are refused (a 1e6-byte body needs 7 digits).
_MAX_LENGTH_DIGITS = 10


class ProtocolError(ValueError):
    """Malformed Engine.IO or Socket.IO input.

    ``reason`` says what was wrong, ``offset`` where (an index into the decoded input: code
    points for text, bytes for binary, UTF-16 code units for v3 text payloads), or None.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        text = reason if offset is None else f'{reason} at offset {offset}'
        super().__init__(text)


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet.

    ``data`` is None (no data), a str (text packet) or bytes (binary packet; bytearray and
    memoryview are converted). An empty string is the same as no data and becomes None, so
    that decoding what was encoded gives an equal packet.
    """

    type: PacketType
    data: str | bytes | None = None

    def __post_init__(self) -> None:
        if type(self.type) is not PacketType:
            object.__setattr__(self, 'type', PacketType(self.type))
        data = self.data
        if data == '':
            object.__setattr__(self, 'data', None)
        elif isinstance(data, (bytearray, memoryview)):
            object.__setattr__(self, 'data', bytes(data))
        elif data is not None and not isinstance(data, (str, bytes)):
            raise TypeError(f'packet data must be str, bytes or None, not {type(data).__name__}')

    @property
    def binary(self) -> bool:
        """True for a binary packet (data is bytes)."""
        return isinstance(self.data, bytes)


# -- helpers ------------------------------------------------------------------------------------

def utf16_len(s: str) -> int:
    """Length of ``s`` in UTF-16 code units, as JavaScript's ``String.length`` counts it."""
    if s.isascii():
        return len(s)
    return len(s.encode('utf-16-le', 'surrogatepass')) // 2


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode('ascii')


def _b64decode(text: str, offset: int) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:  # binascii.Error is a ValueError; non-ASCII text raises ValueError
        raise ProtocolError(f'invalid base64 data ({exc})', offset) from None


def _packet_type(char: str, offset: int) -> PacketType:
    try:
        return _TYPE_BY_CHAR[char]
    except KeyError:
        raise ProtocolError(f'unknown packet type {char!r}', offset) from None


def _decode_text_packet(text: str, offset: int) -> Packet:
    """A text packet ``type-digit [data]`` (no 'b' prefix), ``offset`` of its first char."""
    if not text:
        raise ProtocolError('empty packet', offset)
    return Packet(_packet_type(text[0], offset), text[1:] or None)


# -- revision 4 ---------------------------------------------------------------------------------

def encode_packet(packet: Packet, *, b64: bool = False) -> str | bytes:
    """Encode one v4 packet.

    Text packets give ``'<type><data>'``. Binary packets (MESSAGE only in v4) give the raw bytes
    for a WebSocket binary frame, or ``'b' + base64`` with ``b64=True`` (polling payloads).
    """
    data = packet.data
    if isinstance(data, bytes):
        if packet.type != MESSAGE:
            raise ValueError(f'v4 binary packets are always MESSAGE, not {packet.type.name}')
        return 'b' + _b64encode(data) if b64 else data
    return str(int(packet.type)) + (data or '')


def _decode_v4(data: str, offset: int) -> Packet:
    if data[:1] == 'b':
        return Packet(MESSAGE, _b64decode(data[1:], offset + 1))
    return _decode_text_packet(data, offset)


def decode_packet(data: str | bytes | bytearray | memoryview) -> Packet:
    """Decode one v4 packet: a WebSocket text frame (str) or binary frame (bytes)."""
    if isinstance(data, str):
        return _decode_v4(data, 0)
    return Packet(MESSAGE, bytes(data))


def encode_payload(packets: Iterable[Packet]) -> str:
    """Encode v4 packets as a polling payload: joined by '\\x1e', binary as 'b' + base64."""
    return SEPARATOR.join([encode_packet(p, b64=True) for p in packets])  # type: ignore[misc]


def decode_payload(text: str, *, max_packets: int | None = None) -> list[Packet]:
    """Decode a v4 polling payload; at most ``max_packets`` packets when given."""
    if not isinstance(text, str):
        raise TypeError('a v4 payload is text; decode the request body as UTF-8 first')
    parts = text.split(SEPARATOR)
    if max_packets is not None and len(parts) > max_packets:
        raise ProtocolError(f'payload has {len(parts)} packets, more than the limit of '
                            f'{max_packets}')
    packets = []
    offset = 0
    for part in parts:
        packets.append(_decode_v4(part, offset))
        offset += len(part) + 1
    return packets


# -- revision 3 ---------------------------------------------------------------------------------

def encode_packet_v3(packet: Packet, *, b64: bool = False) -> str | bytes:
    """Encode one v3 packet for a WebSocket frame (or, with ``b64=True``, for a text payload).

    Binary packets give a type byte followed by the data, or ``'b<type>' + base64`` when
    ``b64`` is true.
    """
    data = packet.data
    if isinstance(data, bytes):
        if b64:
            return f'b{int(packet.type)}{_b64encode(data)}'
        return bytes((packet.type,)) + data
    return str(int(packet.type)) + (data or '')


def _decode_v3_text(text: str, offset: int) -> Packet:
    if text[:1] == 'b':
        ptype = _packet_type(text[1:2], offset + 1)
        return Packet(ptype, _b64decode(text[2:], offset + 2))
    return _decode_text_packet(text, offset)


def _decode_v3_binary(data: bytes, offset: int) -> Packet:
    if not data:
        raise ProtocolError('empty binary packet (no type byte)', offset)
    if data[0] > NOOP:
        raise ProtocolError(f'unknown packet type byte 0x{data[0]:02x}', offset)
    return Packet(PacketType(data[0]), data[1:])


def decode_packet_v3(data: str | bytes | bytearray | memoryview) -> Packet:
    """Decode one v3 WebSocket frame: text packet (str) or type byte + data (bytes)."""
    if isinstance(data, str):
        return _decode_v3_text(data, 0)
    return _decode_v3_binary(bytes(data), 0)


def encode_payload_v3(packets: Sequence[Packet], *, b64: bool) -> str | bytes:
    """Encode v3 packets as a polling payload.

    Gives the binary form (bytes) when the client supports binary (``b64`` false) and at
    least one packet is binary, as node does; otherwise the text form, with binary packets
    as ``b<type><base64>``. No packets gives ``'0:'``.
    """
    if not b64 and any(p.binary for p in packets):
        chunks: list[bytes] = []
        for p in packets:
            body = encode_packet_v3(p)
            kind = b'\x01'
            if isinstance(body, str):
                kind, body = b'\x00', body.encode('utf-8')
            chunks += (kind, bytes(int(d) for d in str(len(body))), b'\xff', body)
        return b''.join(chunks)
    if not packets:
        return '0:'
    out = []
    for p in packets:
        encoded = encode_packet_v3(p, b64=True)
        assert isinstance(encoded, str)  # b64=True: always text
        out.append(f'{utf16_len(encoded)}:{encoded}')
    return ''.join(out)


def _check_count(count: int, max_packets: int | None, offset: int) -> None:
    if max_packets is not None and count > max_packets:
        raise ProtocolError(f'payload has more than the limit of {max_packets} packets', offset)


def decode_payload_v3(data: str | bytes | bytearray | memoryview, *,
                      max_packets: int | None = None) -> list[Packet]:
    """Decode a v3 polling payload: the text form (str) or the binary form (bytes).

    Offsets in errors are UTF-16 code units for the text form and bytes for the binary form.
    """
    if isinstance(data, str):
        return _decode_payload_v3_text(data, max_packets)
    return _decode_payload_v3_binary(bytes(data), max_packets)


def _decode_payload_v3_text(text: str, max_packets: int | None) -> list[Packet]:
    if not text:
        raise ProtocolError('empty payload', 0)
    # Work in UTF-16 code units, the unit of the length prefix: two bytes per unit.
    raw = text.encode('utf-16-le', 'surrogatepass')
    units = len(raw) // 2
    packets: list[Packet] = []
    pos = 0
    while pos < units:
        start = pos
        digits = []
        while True:
            if pos >= units:
                raise ProtocolError('truncated payload: length prefix without ":"', start)
            unit = raw[2 * pos:2 * pos + 2]
            if unit == b':\x00':
                break
            if unit[1] != 0 or not 0x30 <= unit[0] <= 0x39:
                char = raw[2 * pos:2 * pos + 2].decode('utf-16-le', 'replace')
                raise ProtocolError(f'bad length prefix: expected a digit or ":", got {char!r}',
                                    pos)
            digits.append(unit[0])
            if len(digits) > _MAX_LENGTH_DIGITS:
                raise ProtocolError('bad length prefix: too many digits', start)
            pos += 1
        if not digits:
            raise ProtocolError('bad length prefix: no digits before ":"', start)
        length = int(bytes(digits))
        pos += 1  # the ':'
        end = pos + length
        if end > units:
            raise ProtocolError(f'truncated payload: packet length {length} but only '
                                f'{units - pos} code units left', pos)
        if length:
            try:
                body = raw[2 * pos:2 * end].decode('utf-16-le')
            except UnicodeDecodeError:
                raise ProtocolError('packet is not valid UTF-16 (a length prefix that splits a '
                                    'surrogate pair, or a lone surrogate)', pos) from None
            packets.append(_decode_v3_text(body, pos))
            _check_count(len(packets), max_packets, pos)
        pos = end
    return packets


def _decode_payload_v3_binary(data: bytes, max_packets: int | None) -> list[Packet]:
    if not data:
        raise ProtocolError('empty payload', 0)
    packets: list[Packet] = []
    pos = 0
    size = len(data)
    while pos < size:
        start = pos
        kind = data[pos]
        if kind > 1:
            raise ProtocolError(f'bad packet kind byte 0x{kind:02x} (expected 0x00 or 0x01)', pos)
        pos += 1
        sep = data.find(b'\xff', pos, pos + _MAX_LENGTH_DIGITS + 1)
        if sep < 0:
            if data.find(b'\xff', pos) < 0:
                raise ProtocolError('truncated payload: length without 0xff separator', start)
            raise ProtocolError('bad length prefix: too many digits', pos)
        if sep == pos:
            raise ProtocolError('bad length prefix: no digits before 0xff', pos)
        length = 0
        for i in range(pos, sep):
            if data[i] > 9:
                raise ProtocolError(f'bad length digit 0x{data[i]:02x} (expected 0x00-0x09)', i)
            length = length * 10 + data[i]
        pos = sep + 1
        end = pos + length
        if end > size:
            raise ProtocolError(f'truncated payload: packet length {length} but only '
                                f'{size - pos} bytes left', pos)
        body = data[pos:end]
        if kind == 0:
            try:
                text = body.decode('utf-8')
            except UnicodeDecodeError as exc:
                raise ProtocolError('invalid UTF-8 in text packet', pos + exc.start) from None
            packets.append(_decode_v3_text(text, pos))
        else:
            packets.append(_decode_v3_binary(body, pos))
        _check_count(len(packets), max_packets, start)
        pos = end
    return packets


# -- handshake and HTTP error bodies --------------------------------------------------------------

def _ms(value: int | float, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be an int number of milliseconds')
    if value != int(value) or value < 0:
        raise ValueError(f'{name} must be a whole, non-negative number of milliseconds, '
                         f'got {value!r}')
    return int(value)


def open_packet_data(sid: str, upgrades: Sequence[str], ping_interval_ms: int,
                     ping_timeout_ms: int, max_payload: int | None = None) -> str:
    """The OPEN packet's JSON, keys in node's order.

    v4: ``{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}``; pass
    ``max_payload=None`` to leave ``maxPayload`` out (v3 clients do not read it).
    """
    handshake: dict[str, object] = {
        'sid': sid,
        'upgrades': list(upgrades),
        'pingInterval': _ms(ping_interval_ms, 'ping_interval_ms'),
        'pingTimeout': _ms(ping_timeout_ms, 'ping_timeout_ms'),
    }
    if max_payload is not None:
        handshake['maxPayload'] = _ms(max_payload, 'max_payload')
    return _ENCODE_COMPACT(handshake)


#: node engine.io's ``Server.errorMessages``.
ERROR_MESSAGES = {
    0: 'Transport unknown',
    1: 'Session ID unknown',
    2: 'Bad handshake method',
    3: 'Bad request',
    4: 'Forbidden',
    5: 'Unsupported protocol version',
}


def error_body(code: int, message: str | None = None) -> str:
    """node's JSON error body ``{"code":N,"message":"..."}`` (``Content-Type: application/json``).

    ``message`` replaces the standard text, as node does for a refused ``allowRequest``.
    """
    if code not in ERROR_MESSAGES:
        raise ValueError(f'unknown Engine.IO error code {code!r}')
    return json.dumps({'code': code, 'message': message or ERROR_MESSAGES[code]},
                      separators=(',', ':'), ensure_ascii=False)


def error_status(code: int) -> int:
    """HTTP status node sends with an error body: 403 for code 4 (Forbidden), else 400."""
    if code not in ERROR_MESSAGES:
        raise ValueError(f'unknown Engine.IO error code {code!r}')
    return 403 if code == 4 else 400


_SAMESITE = {'lax': 'Lax', 'strict': 'Strict', 'none': 'None'}


def handshake_cookie(sid: str, name: str = 'io', *, path: str | None = '/',
                     httponly: bool = True, samesite: str | None = 'lax',
                     secure: bool = False, domain: str | None = None,
                     max_age: float | None = None) -> str:
    """The ``Set-Cookie`` value engine.io's ``cookie`` option sends at the handshake (the
    session id, for load balancers that stick on it): ``io=<sid>; Path=/; HttpOnly;
    SameSite=Lax`` by default, attributes in the order node's ``cookie`` package writes
    them. ``path=None`` leaves Path out."""
    parts = ['%s=%s' % (quote(name, safe=_COOKIE_SAFE), quote(sid, safe=_COOKIE_SAFE))]
    if max_age is not None:
        parts.append('Max-Age=%d' % int(max_age))
    if domain:
        parts.append('Domain=' + domain)
    if path:
        parts.append('Path=' + path)
    if httponly:
        parts.append('HttpOnly')
    if secure:
        parts.append('Secure')
    if samesite:
        try:
            parts.append('SameSite=' + _SAMESITE[samesite.lower()])
        except KeyError:
            raise ValueError(f'samesite must be lax, strict or none, got {samesite!r}') from None
    return '; '.join(parts)


#: what encodeURIComponent leaves as it is
_COOKIE_SAFE = "-_.!~*'()"
