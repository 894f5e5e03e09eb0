"""permessage-deflate (RFC 7692) for RFC 6455 WebSockets, sans-I/O.

* :class:`DeflateOptions`: the ``per_message_deflate`` setting, checked.
* :func:`parse_extensions`: a ``Sec-WebSocket-Extensions`` header as offers.
* :class:`WebSocketDeflate`: one router's deflate; :meth:`WebSocketDeflate.negotiate` picks
  the first acceptable ``permessage-deflate`` offer (RFC 7692 §5, §7.1) and gives the
  connection's :class:`PerMessageDeflate`, which holds the response header value
  (:attr:`PerMessageDeflate.header`), compresses outgoing messages into frames and inflates
  incoming ones, bounded.
* :class:`InflatingFrameDecoder`: the RFC 6455 frame decoder for such a connection.

zlib objects are made lazily: a connection that never sends (or receives) a compressed
message has no deflate (inflate) state. With no context takeover the state is dropped after
each message. zlib refuses a raw deflate window of 8 bits, so a 256-byte window is served by
a 9-bit one, whose longest match distance (512 - 262 = 250 bytes) fits in 256.
"""
from __future__ import annotations

import re
import zlib
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .rfc6455 import (
    CLOSE_INVALID_DATA, CLOSE_TOO_BIG, OP_BINARY, OP_TEXT, FrameDecoder, FrameError, FrameHeader,
    Message, encode_frame,
)

__all__ = ["DeflateOptions", "WebSocketDeflate", "PerMessageDeflate", "InflatingFrameDecoder",
           "parse_extensions", "EXTENSION_NAME"]

EXTENSION_NAME = "permessage-deflate"
#: RFC 7692 §7.2.1: the end of a sync flush, removed from each compressed message.
TAIL = b"\x00\x00\xff\xff"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_WINDOW_BITS = {str(n): n for n in range(8, 16)}  # RFC 7692 §7.1.2: "8" to "15", no zeros
#: Offer parameters: name -> whether it takes a value (True: must, None: may, False: not).
_PARAMS = {"server_no_context_takeover": False, "client_no_context_takeover": False,
           "server_max_window_bits": True, "client_max_window_bits": None}

Params = Dict[str, Optional[str]]


@dataclass(frozen=True)
class DeflateOptions:
    """The ``per_message_deflate`` setting (see README "permessage-deflate")."""

    #: messages of fewer bytes than this go out uncompressed (node's ``threshold``).
    threshold: int = 1024
    #: zlib compression level, 0-9 (-1: zlib's default, 6).
    level: int = -1
    #: zlib memLevel, 1-9: the deflate state is about 2**(mem_level + 9) bytes of hash and
    #: buffers plus the window (8: zlib's default).
    mem_level: int = 8
    #: compress each message on its own (no shared history): always said in the answer.
    server_no_context_takeover: bool = False
    #: ask the client to do the same (our inflate state is then dropped after each message).
    client_no_context_takeover: bool = False
    #: largest window (bits, 8-15) of our deflate; a client may ask for a smaller one.
    server_max_window_bits: int = 15
    #: largest window (bits, 8-15) the client may use; below 15 an offer must allow it
    #: (carry ``client_max_window_bits``), else it is declined.
    client_max_window_bits: int = 15

    def __post_init__(self) -> None:
        for name in ("server_no_context_takeover", "client_no_context_takeover"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError("per_message_deflate %s must be True or False" % name)
        checks = (("threshold", 0, 1 << 62), ("level", -1, 9), ("mem_level", 1, 9),
                  ("server_max_window_bits", 8, 15), ("client_max_window_bits", 8, 15))
        for name, low, high in checks:
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise ValueError("per_message_deflate %s must be an int from %d to %d, not %r"
                                 % (name, low, high, value))

    @classmethod
    def from_setting(cls, value: Union[None, bool, Mapping[str, Any]]
                     ) -> "Optional[DeflateOptions]":
        """The options of a ``per_message_deflate`` setting: None when off (False/None),
        the defaults for True, else the dict's. Raises ValueError for unknown names or bad
        values."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if not isinstance(value, Mapping):
            raise ValueError("per_message_deflate must be False, True or a dict, not %r"
                             % (value,))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError("unknown per_message_deflate option(s): %s (known: %s)"
                             % (", ".join(map(str, unknown)), ", ".join(sorted(known))))
        return cls(**value)


def _split(text: str, sep: str) -> Optional[List[str]]:
    """``text`` split at ``sep`` outside quoted strings; None if a quote is unclosed."""
    parts, start, quoted, i = [], 0, False, 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\":
            i += 1
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        return None
    parts.append(text[start:])
    return parts


def _param(text: str) -> Optional[Tuple[str, Optional[str]]]:
    """One ``name[=value]`` (value a token or a quoted token); None if malformed."""
    name, eq, value = text.partition("=")
    name = name.strip()
    if not _TOKEN.match(name):
        return None
    if not eq:
        return name.lower(), None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return (name.lower(), value) if _TOKEN.match(value) else None


def parse_extensions(header: Optional[str]) -> List[Tuple[str, Optional[Params]]]:
    """A ``Sec-WebSocket-Extensions`` value as ``[(name, params), ...]`` in the client's order.

    ``params`` maps each parameter (lower-cased) to its value (None when it has none; quoted
    values unquoted), or is None when the element is malformed or repeats a parameter (an
    offer that cannot be accepted).
    """
    offers: List[Tuple[str, Optional[Params]]] = []
    elements = _split(header or "", ",")
    for element in elements or ():
        pieces = _split(element, ";") or [""]
        name = pieces[0].strip().lower()
        if not name:
            continue
        params: Optional[Params] = {}
        for piece in pieces[1:]:
            parsed = _param(piece)
            if parsed is None or params is None or parsed[0] in params:
                params = None
                continue
            params[parsed[0]] = parsed[1]
        offers.append((name, params))
    return offers


class WebSocketDeflate:
    """One router's permessage-deflate: its :class:`DeflateOptions`, and the compressed
    frames of recent messages shared by connections with no context takeover (a broadcast
    is compressed once for them all).

    The cache keeps at most ``cache_entries`` frames, each of a message of at most
    ``cache_max_bytes`` bytes.
    """

    def __init__(self, options: DeflateOptions, cache_entries: int = 16,
                 cache_max_bytes: int = 256 * 1024) -> None:
        self.options = options
        self.cache_entries = cache_entries
        self.cache_max_bytes = cache_max_bytes
        # (id(message), window bits) -> (message, frame); the message is kept so that its id
        # cannot be reused while the entry lives.
        self._frames: "OrderedDict[Tuple[int, int], Tuple[Message, bytes]]" = OrderedDict()

    def negotiate(self, header: Optional[str]) -> "Optional[PerMessageDeflate]":
        """The connection's deflate for the first acceptable ``permessage-deflate`` offer in
        ``header`` (the request's ``Sec-WebSocket-Extensions``), or None."""
        for name, params in parse_extensions(header):
            if name == EXTENSION_NAME and params is not None:
                agreed = self._accept(params)
                if agreed is not None:
                    return agreed
        return None

    def _accept(self, params: Params) -> "Optional[PerMessageDeflate]":
        opts = self.options
        for key, value in params.items():  # RFC 7692 §7.1: what an offer may carry
            if key not in _PARAMS:
                return None
            if value is None:
                if _PARAMS[key] is True:
                    return None
            elif _PARAMS[key] is False or value not in _WINDOW_BITS:
                return None
        server_bits = opts.server_max_window_bits
        requested = params.get("server_max_window_bits")
        say_server_bits = requested is not None or server_bits < 15
        if requested is not None:
            server_bits = min(server_bits, _WINDOW_BITS[requested])
        client_bits = 15
        say_client_bits = False
        if "client_max_window_bits" in params:
            offered = params["client_max_window_bits"]
            client_bits = min(opts.client_max_window_bits,
                              15 if offered is None else _WINDOW_BITS[offered])
            say_client_bits = client_bits < 15
        elif opts.client_max_window_bits < 15:
            return None  # the client cannot be held to a smaller window
        server_nct = opts.server_no_context_takeover or "server_no_context_takeover" in params
        client_nct = opts.client_no_context_takeover or "client_no_context_takeover" in params
        answer = [EXTENSION_NAME]
        if server_nct:
            answer.append("server_no_context_takeover")
        if client_nct:
            answer.append("client_no_context_takeover")
        if say_server_bits:
            answer.append("server_max_window_bits=%d" % server_bits)
        if say_client_bits:
            answer.append("client_max_window_bits=%d" % client_bits)
        return PerMessageDeflate(self, "; ".join(answer), server_nct, client_nct,
                                 server_bits, client_bits)

    def shared_frame(self, message: Message, window_bits: int) -> Optional[bytes]:
        """The frame already made for ``message`` (the same object) with no context
        takeover and this window, or None."""
        entry = self._frames.get((id(message), window_bits))
        if entry is not None and entry[0] is message:
            return entry[1]
        return None

    def share_frame(self, message: Message, window_bits: int, frame: bytes) -> None:
        """Keep ``frame`` for the next connections that send ``message`` (bounded)."""
        if len(message) > self.cache_max_bytes:
            return
        frames = self._frames
        frames[(id(message), window_bits)] = (message, frame)
        while len(frames) > self.cache_entries:
            frames.popitem(last=False)


class PerMessageDeflate:
    """One connection's permessage-deflate, as agreed (read-only attributes): compresses
    what it sends (:meth:`frame`), inflates what it receives (:meth:`decompress`)."""

    __slots__ = ("header", "server_no_context_takeover", "client_no_context_takeover",
                 "server_max_window_bits", "client_max_window_bits", "_owner", "_deflate",
                 "_inflate")

    def __init__(self, owner: WebSocketDeflate, header: str, server_no_context_takeover: bool,
                 client_no_context_takeover: bool, server_max_window_bits: int,
                 client_max_window_bits: int) -> None:
        #: the ``Sec-WebSocket-Extensions`` value of the 101 response
        self.header = header
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self._owner = owner
        self._deflate: Any = None  # zlib objects, made when first needed
        self._inflate: Any = None

    @property
    def threshold(self) -> int:
        """Messages of fewer bytes go out uncompressed."""
        return self._owner.options.threshold

    @property
    def memory_state(self) -> Tuple[bool, bool]:
        """Whether a deflate and an inflate state are held now."""
        return self._deflate is not None, self._inflate is not None

    def frame(self, message: Message) -> bytes:
        """The frame of one message: compressed (RSV1) from ``threshold`` bytes up."""
        if isinstance(message, str):
            opcode, data = OP_TEXT, message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray, memoryview)):
            opcode, data = OP_BINARY, bytes(message)
        else:
            raise TypeError("a WebSocket message is str or bytes, not %s"
                            % type(message).__name__)
        if len(data) < self._owner.options.threshold:
            return encode_frame(opcode, data)
        if not self.server_no_context_takeover:
            return encode_frame(opcode, self.compress(data), rsv1=True)
        owner, bits = self._owner, self.server_max_window_bits
        made = owner.shared_frame(message, bits)
        if made is None:
            made = encode_frame(opcode, self.compress(data), rsv1=True)
            owner.share_frame(message, bits, made)
        return made

    def compress(self, data: bytes) -> bytes:
        """One message's compressed payload (the sync flush's 4-byte tail removed)."""
        deflate = self._deflate
        if deflate is None:
            opts = self._owner.options
            deflate = zlib.compressobj(opts.level, zlib.DEFLATED,
                                       -max(self.server_max_window_bits, 9), opts.mem_level)
        out = deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
        self._deflate = None if self.server_no_context_takeover else deflate
        return out[:-4] if out.endswith(TAIL) else out

    def decompress(self, payload: Union[bytes, bytearray], fin: bool, limit: int) -> bytes:
        """Inflate one frame of a compressed message (its last when ``fin``), giving at most
        ``limit`` bytes: more raises :class:`FrameError` 1009 before more is allocated;
        invalid data raises 1007."""
        inflate = self._inflate
        if inflate is None:
            inflate = self._inflate = zlib.decompressobj(-max(self.client_max_window_bits, 9))
        try:
            out = inflate.decompress(payload, limit + 1) if payload else b""
            if inflate.eof and inflate.unused_data:
                # data after a final (BFINAL) block: the message cannot be inflated whole
                raise zlib.error("data after the final deflate block")
            if fin and len(out) <= limit and not inflate.eof:
                out += inflate.decompress(TAIL, limit + 1 - len(out))
        except zlib.error as exc:
            self._inflate = None
            raise FrameError("invalid compressed data in a message: %s" % exc,
                             close_code=CLOSE_INVALID_DATA) from None
        if len(out) > limit:
            self._inflate = None
            raise FrameError("compressed message inflates past max_message_size (%d bytes "
                             "left)" % limit, close_code=CLOSE_TOO_BIG)
        if fin and (self.client_no_context_takeover or inflate.eof):
            self._inflate = None
        return out


class InflatingFrameDecoder(FrameDecoder):
    """A :class:`~geventio.protocol.rfc6455.FrameDecoder` for a connection that agreed
    permessage-deflate: RSV1 on the first frame of a data message marks it compressed, and
    its frames are inflated by ``deflate`` (at most what is left of ``max_message_size``)
    before the UTF-8 check and assembly. RSV1 on a continuation or control frame stays a
    1002; small uncompressed frames keep the decoder's inline fast path.
    """

    RSV_ALLOWED = 4
    __slots__ = ("_deflate", "_compressed")

    def __init__(self, max_message_size: int, deflate: PerMessageDeflate) -> None:
        super().__init__(max_message_size)
        self._deflate = deflate
        self._compressed = False  # the data message being read is compressed

    def _check(self, header: FrameHeader) -> bytes:
        if header.opcode == OP_TEXT or header.opcode == OP_BINARY:
            self._compressed = bool(header.rsv)
        return super()._check(header)

    def _assemble(self, opcode: int, fin: bool,
                  payload: Union[bytes, bytearray]) -> Optional[Message]:
        if self._compressed:
            payload = self._deflate.decompress(payload, fin,
                                               self.max_message_size - self._size)
        return super()._assemble(opcode, fin, payload)
