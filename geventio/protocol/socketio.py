"""Socket.IO packet codec, protocol revisions 4 (socket.io-client 1.x/2.x) and 5 (3.x/4.x).

Sans-I/O: :func:`encode` turns a :class:`Packet` into the frames to send (one text frame, then
one bytes frame per binary attachment), and a :class:`Decoder` turns received frames back into
packets. Each frame travels as one Engine.IO MESSAGE. Malformed input raises
:class:`~geventio.protocol.engineio.ProtocolError` naming what was wrong and its offset; the
session then closes the connection, as the spec requires.

Grammar of the text frame, as this decoder accepts it::

    packet      = type [attachments "-"] [namespace ("," / end)] [ack-id] [payload]
    type        = "0" / "1" / "2" / "3" / "4" / "5" / "6"
                  ; CONNECT DISCONNECT EVENT ACK CONNECT_ERROR BINARY_EVENT BINARY_ACK
    attachments = 1*10DIGIT         ; BINARY_EVENT and BINARY_ACK only, and required there;
                                    ; at most max_attachments (default 10, as node)
    namespace   = "/" *(any char but ",")
                                    ; absent means "/"; ends at the first "," or at the end of
                                    ; the text ("40/admin" is accepted, as node does); a v4
                                    ; client may append a query: "/admin?token=1"
    ack-id      = 1*16DIGIT         ; at most 2**53 - 1 (JavaScript's safe integers)
    payload     = JSON text beginning with "[", "{" or '"' and running to the end of the text;
                  NaN/Infinity and trailing characters are refused

Rules by type (the spec's MUSTs plus node socket.io-parser's checks):

=============  ===========  ====================================================================
type           ack id       payload
=============  ===========  ====================================================================
CONNECT        forbidden    absent or an object (v5 auth; v4 clients send none)
DISCONNECT     forbidden    absent
EVENT          optional     non-empty array, first item a string that is not a reserved event
ACK            required     array (may be empty)
CONNECT_ERROR  forbidden    absent, a string (v4) or an object ``{"message": ...}`` (v5)
BINARY_EVENT   optional     as EVENT, with ``{"_placeholder":true,"num":N}`` for each attachment
BINARY_ACK     required     as ACK, with placeholders
=============  ===========  ====================================================================

A BINARY_* header must be followed by exactly ``attachments`` binary frames before any text
frame; every placeholder must have an integer ``num`` with ``0 <= num < attachments``.
Decoded binary packets come back as EVENT/ACK with ``bytes`` in the placeholders' places.

Revisions 4 and 5 share this wire format; they differ in what the server sends, which
:func:`connect_ack` and :func:`connect_error` encode: v5 answers CONNECT with ``{"sid": ...}``
and refuses with ``{"message": ...[, "data": ...]}``, v4 answers with a bare CONNECT and
refuses with a string (node sends ``err.data || err.message``).
"""
from __future__ import annotations

import enum
import json as stdlib_json
from dataclasses import dataclass, field
from typing import Any, Callable

import simplejson as json

from .engineio import MESSAGE, ProtocolError
from .engineio import Packet as EngineIOPacket

__all__ = [
    'PacketType', 'CONNECT', 'DISCONNECT', 'EVENT', 'ACK', 'CONNECT_ERROR', 'BINARY_EVENT',
    'BINARY_ACK', 'Packet', 'ProtocolError', 'Decoder', 'encode', 'encode_messages',
    'connect_ack', 'connect_error', 'split_namespace', 'RESERVED_EVENTS', 'MAX_ACK_ID',
    'DEFAULT_MAX_ATTACHMENTS',
]


class PacketType(enum.IntEnum):
    """Socket.IO packet types."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


#: '0'..'6' -> the packet type (an enum call per packet costs more than a lookup)
_TYPE_OF_CHAR = {str(int(t)): t for t in PacketType}


CONNECT = PacketType.CONNECT
DISCONNECT = PacketType.DISCONNECT
EVENT = PacketType.EVENT
ACK = PacketType.ACK
CONNECT_ERROR = PacketType.CONNECT_ERROR
BINARY_EVENT = PacketType.BINARY_EVENT
BINARY_ACK = PacketType.BINARY_ACK

#: Event names node's parser refuses (socket.io-parser RESERVED_EVENTS): both sides reject them.
RESERVED_EVENTS = frozenset({
    'connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener',
})
#: Largest ack id: JavaScript's Number.MAX_SAFE_INTEGER.
MAX_ACK_ID = 2 ** 53 - 1
#: node socket.io-parser's default ``maxAttachments``.
DEFAULT_MAX_ATTACHMENTS = 10

_NO_ID_TYPES = (CONNECT, DISCONNECT, CONNECT_ERROR)
_BINARY_TYPES = (BINARY_EVENT, BINARY_ACK)
_BINARY = (bytes, bytearray, memoryview)
_CONTAINERS = (dict, list, tuple) + _BINARY
_JSON_DECODER = json.JSONDecoder(allow_nan=False)
_MAX_ATTACHMENT_DIGITS = 10
_MAX_ACK_ID_DIGITS = 16


@dataclass(frozen=True, slots=True)
class Packet:
    """One Socket.IO packet.

    ``data`` is the JSON-able payload (bytes allowed anywhere inside EVENT and ACK data).
    ``attachments`` is wire information: :func:`encode` computes it, and the decoder records
    how many binary frames the packet arrived with; it takes no part in equality.
    """

    type: PacketType
    namespace: str = '/'
    data: Any = None
    id: int | None = None
    attachments: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if type(self.type) is not PacketType:
            object.__setattr__(self, 'type', PacketType(self.type))


# -- encoding -----------------------------------------------------------------------------------

def _deconstruct(obj: Any, buffers: list[bytes]) -> Any:
    """``obj`` with every bytes-like value replaced by a placeholder appended to ``buffers``.

    Containers without binary inside are returned as they are (no copy).
    """
    if isinstance(obj, _BINARY):
        buffers.append(bytes(obj))
        return {'_placeholder': True, 'num': len(buffers) - 1}
    if isinstance(obj, dict):
        items: Any = obj.items()
    elif isinstance(obj, (list, tuple)):
        if hasattr(obj, '_asdict'):  # a namedtuple is a JSON object to simplejson
            return _deconstruct(obj._asdict(), buffers)
        items = enumerate(obj)
    else:
        return obj
    copy = None
    for key, value in items:
        if isinstance(value, _CONTAINERS):
            replaced = _deconstruct(value, buffers)
            if replaced is not value:
                if copy is None:
                    copy = dict(obj) if isinstance(obj, dict) else list(obj)
                copy[key] = replaced
    return obj if copy is None else copy


# Built once: json.dumps() with keyword arguments builds a new encoder on every call.
_ENCODE = json.JSONEncoder(separators=(',', ':'), ensure_ascii=False, ignore_nan=True).encode
_ENCODE_ASCII = json.JSONEncoder(separators=(',', ':'), ignore_nan=True).encode


def _dumps(data: Any) -> str:
    """Compact JSON like JavaScript's JSON.stringify (NaN -> null, UTF-8 text)."""
    text = _ENCODE(data)
    if not text.isascii():
        try:  # (5x cheaper than searching the text for a surrogate with a regex)
            text.encode('utf-8')
        except UnicodeEncodeError:
            # Lone surrogates cannot be sent as UTF-8; escape them as JSON.stringify does.
            text = _ENCODE_ASCII(data)
    return text


def _check_event_name(name: Any) -> str | None:
    """Why ``name`` cannot be an event name, or None when it can."""
    if not isinstance(name, str):
        return f'event name must be a string, not {type(name).__name__}'
    if name in RESERVED_EVENTS:
        return f'event name {name!r} is reserved'
    return None


def encode(packet: Packet) -> list[str | bytes]:
    """Encode a packet: ``[text, attachment, ...]``.

    Bytes, bytearray or memoryview anywhere in EVENT/ACK data become
    ``{"_placeholder":true,"num":N}`` and the packet goes out as BINARY_EVENT/BINARY_ACK with
    the attachments after the text. The frames are the same for every recipient: encode a
    broadcast once. Raises ValueError for a packet the spec does not allow (TypeError for
    data JSON cannot carry).
    """
    ptype, namespace, data, ack_id = packet.type, packet.namespace, packet.data, packet.id
    if not isinstance(namespace, str) or not namespace.startswith('/') or ',' in namespace:
        raise ValueError(f'namespace must be a str starting with "/" and without ",": '
                         f'{namespace!r}')
    if ack_id is not None:
        if ptype in _NO_ID_TYPES:
            raise ValueError(f'{ptype.name} packets carry no ack id')
        if isinstance(ack_id, bool) or not isinstance(ack_id, int) or \
                not 0 <= ack_id <= MAX_ACK_ID:
            raise ValueError(f'ack id must be an int in 0..2**53-1, not {ack_id!r}')
    buffers: list[bytes] = []
    if ptype in (EVENT, BINARY_EVENT, ACK, BINARY_ACK):
        if not isinstance(data, (list, tuple)):
            raise ValueError(f'{ptype.name} data must be a list, not {type(data).__name__}')
        if ptype in (EVENT, BINARY_EVENT):
            problem = _check_event_name(data[0]) if data else 'EVENT data must not be empty'
            if problem:
                raise ValueError(problem)
            ptype = EVENT
        else:
            if ack_id is None:
                raise ValueError('ACK packets need an ack id')
            ptype = ACK
        data = _deconstruct(data, buffers)
        if buffers:
            ptype = BINARY_EVENT if ptype == EVENT else BINARY_ACK
    else:
        if ptype == CONNECT and not (data is None or isinstance(data, dict)):
            raise ValueError('CONNECT data must be None or a dict')
        if ptype == DISCONNECT and data is not None:
            raise ValueError('DISCONNECT packets carry no data')
        if ptype == CONNECT_ERROR and not (data is None or isinstance(data, (str, dict))):
            raise ValueError('CONNECT_ERROR data must be None, a str or a dict')
        if _deconstruct(data, buffers) is not data or buffers:
            raise ValueError(f'binary data is only allowed in EVENT and ACK packets, '
                             f'not {ptype.name}')
    parts = [str(int(ptype))]
    if buffers:
        parts.append(f'{len(buffers)}-')
    if namespace != '/':
        parts.append(namespace + ',')
    if ack_id is not None:
        parts.append(str(ack_id))
    if data is not None:
        parts.append(_dumps(data))
    frames: list[str | bytes] = [''.join(parts)]
    frames.extend(buffers)
    return frames


def encode_messages(packet: Packet) -> tuple[EngineIOPacket, ...]:
    """Encode a packet as the Engine.IO MESSAGE packets that carry it.

    The result is immutable and recipient-independent: for a broadcast, call this once and
    hand the same tuple to every recipient's queue.
    """
    return tuple(EngineIOPacket(MESSAGE, frame) for frame in encode(packet))


def connect_ack(namespace: str = '/', sid: str | None = None, *, protocol: int = 5,
                pid: str | None = None) -> Packet:
    """The server's CONNECT answer: v5 ``0{"sid":...}`` (``{"sid":...,"pid":...}`` when
    connection state recovery is on), v4 a bare ``0`` (``0/admin,``)."""
    if protocol == 4:
        return Packet(CONNECT, namespace)
    if protocol != 5:
        raise ValueError(f'unknown Socket.IO protocol revision {protocol!r}')
    if sid is None:
        raise ValueError('a v5 CONNECT answer needs the Socket.IO sid')
    if pid is None:
        return Packet(CONNECT, namespace, {'sid': sid})
    return Packet(CONNECT, namespace, {'sid': sid, 'pid': pid})


def connect_error(namespace: str, message: str, data: Any = None, *,
                  protocol: int = 5) -> Packet:
    """The server's refusal: v5 ``{"message":...[,"data":...]}``; v4 ``data`` or ``message``.

    v4 follows node (``err.data || err.message``): the extra data when given, else the
    message string.
    """
    if protocol == 4:
        return Packet(CONNECT_ERROR, namespace, message if data is None else data)
    if protocol != 5:
        raise ValueError(f'unknown Socket.IO protocol revision {protocol!r}')
    payload: dict[str, Any] = {'message': message}
    if data is not None:
        payload['data'] = data
    return Packet(CONNECT_ERROR, namespace, payload)


def split_namespace(namespace: str) -> tuple[str, str]:
    """Split a v4 client's ``'/admin?token=1'`` into ``('/admin', 'token=1')``.

    v4 clients carry their auth as a query in the namespace; parse the query with
    ``urllib.parse.parse_qsl``. A namespace without ``?`` gives an empty query.
    """
    name, _, query = namespace.partition('?')
    return name or '/', query


# -- decoding -----------------------------------------------------------------------------------

def _digits_end(text: str, start: int) -> int:
    end = start
    size = len(text)
    while end < size and '0' <= text[end] <= '9':
        end += 1
    return end


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: JavaScript's JSON.parse refuses them, and so do we."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(name)


# The standard library's C scanner decodes 2-3 times faster than simplejson's (measured:
# 6 us against 15 us for a 2 KB event) and accepts the same documents once NaN and the
# Infinities are refused; simplejson (allow_nan=False) re-reads a refused payload to say
# why and where, so errors read as they always have.
_SCAN_JSON: Callable[[str, int], tuple[Any, int]] = stdlib_json.JSONDecoder(
    parse_constant=_refuse_constant).scan_once  # type: ignore[attr-defined]  # not in typeshed


def _decode_json(text: str, pos: int) -> tuple[Any, int]:
    """The JSON value starting at ``text[pos]`` and the index after it; ProtocolError for
    anything JSON.parse would refuse (RecursionError passes through)."""
    try:
        return _SCAN_JSON(text, pos)
    except (StopIteration, ValueError):  # no value there, or a refused one: say why below
        pass
    try:
        _JSON_DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f'invalid JSON payload ({exc.msg})', exc.pos) from None
    except ValueError as exc:  # e.g. an integer of more than sys.get_int_max_str_digits()
        raise ProtocolError(f'invalid JSON payload ({exc})', pos) from None
    raise ProtocolError('invalid JSON payload', pos)  # pragma: no cover - both refuse alike


def _parse_text(text: str, max_attachments: int) -> tuple[Packet, int]:
    """Parse a text frame; returns the packet (BINARY_* types kept) and its attachment count."""
    if not text:
        raise ProtocolError('empty packet', 0)
    char = text[0]
    if not '0' <= char <= '6':
        raise ProtocolError(f'unknown packet type {char!r}', 0)
    ptype = _TYPE_OF_CHAR[char]
    size = len(text)
    pos = 1

    attachments = 0
    if ptype in _BINARY_TYPES:
        end = _digits_end(text, pos)
        if end == pos:
            raise ProtocolError('expected the attachment count (digits)', pos)
        if end - pos > _MAX_ATTACHMENT_DIGITS:
            raise ProtocolError('attachment count has too many digits', pos)
        if end == size or text[end] != '-':
            raise ProtocolError("expected '-' after the attachment count", end)
        attachments = int(text[pos:end])
        if attachments > max_attachments:
            raise ProtocolError(f'too many attachments: {attachments} > {max_attachments}', pos)
        pos = end + 1

    namespace = '/'
    namespace_pos = pos
    if pos < size and text[pos] == '/':
        comma = text.find(',', pos)
        if comma < 0:
            namespace, pos = text[pos:], size
        else:
            namespace, pos = text[pos:comma], comma + 1

    ack_id = None
    id_pos = pos
    end = _digits_end(text, pos)
    if end > pos:
        if end - pos > _MAX_ACK_ID_DIGITS or int(text[pos:end]) > MAX_ACK_ID:
            raise ProtocolError('ack id is larger than 2**53-1', pos)
        ack_id = int(text[pos:end])
        pos = end

    data = None
    payload_pos = pos
    if pos < size:
        if text[pos] not in '[{"':
            if ack_id is not None:
                expected = 'a JSON payload'
            elif pos == namespace_pos:
                expected = 'a namespace starting with "/", an ack id or a JSON payload'
            else:
                expected = 'an ack id or a JSON payload'
            raise ProtocolError(f'expected {expected}, got {text[pos]!r}', pos)
        try:
            data, end = _decode_json(text, pos)
        except RecursionError:
            raise ProtocolError('JSON payload nested too deeply', pos) from None
        if end != size:
            raise ProtocolError('unexpected data after the JSON payload', end)

    if ack_id is not None and ptype in _NO_ID_TYPES:
        raise ProtocolError(f'{ptype.name} packets carry no ack id', id_pos)
    if ptype == CONNECT:
        if data is not None and not isinstance(data, dict):
            raise ProtocolError('CONNECT payload must be an object', payload_pos)
    elif ptype == DISCONNECT:
        if pos < size:
            raise ProtocolError('DISCONNECT packets carry no payload', payload_pos)
    elif ptype == CONNECT_ERROR:
        if data is not None and not isinstance(data, (str, dict)):
            raise ProtocolError('CONNECT_ERROR payload must be a string or an object',
                                payload_pos)
    elif ptype in (EVENT, BINARY_EVENT):
        if not isinstance(data, list) or not data:
            raise ProtocolError('EVENT payload must be a non-empty array', payload_pos)
        problem = _check_event_name(data[0])
        if problem:
            raise ProtocolError(problem, payload_pos + 1)
    else:  # ACK, BINARY_ACK
        if ack_id is None:
            raise ProtocolError('ACK packets need an ack id', id_pos)
        if not isinstance(data, list):
            raise ProtocolError('ACK payload must be an array', payload_pos)
    return Packet(ptype, namespace, data, ack_id, attachments), attachments


_Slot = tuple[Any, Any, int]  # (container, key, placeholder num)


def _find_placeholders(obj: Any, count: int, slots: list[_Slot]) -> None:
    """Collect where placeholders sit in ``obj``; raise if one is malformed or out of range."""
    if isinstance(obj, list):
        items: Any = enumerate(obj)
    elif isinstance(obj, dict):
        items = obj.items()
    else:
        return
    for key, value in items:
        if isinstance(value, dict) and value.get('_placeholder') is True:
            num = value.get('num')
            if type(num) is not int or not 0 <= num < count:
                raise ProtocolError(f'placeholder num {num!r} out of range for {count} '
                                    f'attachment(s)')
            slots.append((obj, key, num))
        else:
            _find_placeholders(value, count, slots)


_NONE: list = []  # shared, never mutated: the idle decoder's slots and buffers


class Decoder:
    """Incremental decoder for one connection's received Socket.IO frames.

    Feed every Engine.IO MESSAGE's data in order; :meth:`feed` returns a complete packet, or
    None while a binary packet still waits for attachments. After a ProtocolError the
    decoder is reset (the caller is expected to close the connection).
    """

    # Small while idle (one per connection): no instance dict, and the lists for a binary
    # packet's slots and attachments exist only while one is being reconstructed.
    __slots__ = ("max_attachments", "max_buffered", "_partial", "_slots", "_buffers",
                 "_buffered")

    def __init__(self, max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
                 max_buffered: int | None = None) -> None:
        self.max_attachments = max_attachments
        #: most bytes one binary packet may total (text header and attachments), so what
        #: an unfinished one holds is bounded too; None: no bound
        self.max_buffered = max_buffered
        self._partial: Packet | None = None
        self._slots: list[_Slot] = _NONE
        self._buffers: list[bytes] = _NONE
        self._buffered = 0

    @property
    def awaiting(self) -> int:
        """How many binary attachments the packet being reconstructed still needs (0: none)."""
        if self._partial is None:
            return 0
        return self._partial.attachments - len(self._buffers)

    def reset(self) -> None:
        """Drop a partly received binary packet."""
        self._partial = None
        self._slots = _NONE
        self._buffers = _NONE
        self._buffered = 0

    def feed(self, data: str | bytes | bytearray | memoryview) -> Packet | None:
        """Take one frame; return the packet it completes, if any."""
        try:
            if isinstance(data, str):
                return self._feed_text(data)
            if isinstance(data, _BINARY):
                return self._feed_binary(bytes(data))
        except ProtocolError:
            self.reset()
            raise
        raise TypeError(f'frames are str or bytes, not {type(data).__name__}')

    def _feed_text(self, text: str) -> Packet | None:
        if self._partial is not None:
            raise ProtocolError(f'got a text packet while {self.awaiting} binary '
                                f'attachment(s) are still expected')
        packet, attachments = _parse_text(text, self.max_attachments)
        if packet.type not in _BINARY_TYPES:
            return packet
        slots: list[_Slot] = []
        try:
            _find_placeholders(packet.data, attachments, slots)
        except RecursionError:
            raise ProtocolError('JSON payload nested too deeply') from None
        self._partial, self._slots, self._buffers = packet, slots, []
        self._buffered = len(text)
        return self._complete() if attachments == 0 else None

    def _feed_binary(self, data: bytes) -> Packet | None:
        if self._partial is None:
            raise ProtocolError('unexpected binary frame: no binary packet awaits attachments')
        self._buffered += len(data)
        if self.max_buffered is not None and self._buffered > self.max_buffered:
            raise ProtocolError(f'binary packet over {self.max_buffered} bytes '
                                f'({self.awaiting - 1} more attachment(s) announced)')
        self._buffers.append(data)
        return self._complete() if self.awaiting == 0 else None

    def _complete(self) -> Packet:
        partial, slots, buffers = self._partial, self._slots, self._buffers
        assert partial is not None
        self.reset()
        for container, key, num in slots:
            container[key] = buffers[num]
        ptype = EVENT if partial.type == BINARY_EVENT else ACK
        return Packet(ptype, partial.namespace, partial.data, partial.id, partial.attachments)
