"""node's ``socket.io-msgpack-parser`` 3.0.x wire: one Socket.IO packet per binary message.

Every packet is one msgpack map ``{type, data, nsp, id}`` (``data`` and ``id`` left out when
absent) sent as a single binary Engine.IO message; bytes stay bytes inside ``data`` (msgpack
bin), so there are no attachments and no BINARY_EVENT / BINARY_ACK types. The decoder
accepts what that parser's ``checkPacket`` accepts: type 0-4, a string ``nsp``, an integer
or absent ``id``, and ``data`` as the type requires (CONNECT: absent or a map; DISCONNECT:
absent; CONNECT_ERROR: a string or a map; EVENT and ACK: an array).

``msgpack`` is imported lazily (:func:`require_msgpack`): geventio works without it unless
a router asks for this parser. Sans-I/O: no sockets, no gevent, no clocks.
"""
from __future__ import annotations

from typing import Any, Callable

from .socketio import (ACK, CONNECT, CONNECT_ERROR, DISCONNECT, EVENT, Packet, PacketType,
                       ProtocolError)

_packb: Callable[[Any], bytes] | None = None
_unpackb: Callable[[bytes], Any] | None = None

# notepack.io writes JavaScript's ``undefined`` (inside arrays) as fixext 1, type 0.
_UNDEFINED_EXT = 0


def require_msgpack() -> None:
    """Import msgpack once; ImportError with what to install when it is missing."""
    global _packb, _unpackb
    if _packb is not None:
        return
    try:
        import msgpack
    except ImportError as exc:  # pragma: no cover - exercised by a monkeypatched import
        raise ImportError("parser='msgpack' needs the msgpack package: "
                          "pip install msgpack") from exc

    def ext_hook(code: int, data: bytes) -> Any:
        if code == _UNDEFINED_EXT:
            return None
        return msgpack.ExtType(code, data)

    packer = msgpack.Packer(use_bin_type=True, datetime=False)

    def packb(obj: Any) -> bytes:
        return packer.pack(obj)

    def unpackb(data: bytes) -> Any:
        return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=ext_hook,
                               use_list=True)

    _packb, _unpackb = packb, unpackb


def encode(packet: Packet) -> bytes:
    """One packet as the single binary message node's parser sends."""
    if _packb is None:
        require_msgpack()
    assert _packb is not None
    ptype = packet.type
    if ptype > CONNECT_ERROR:  # BINARY_* never travel with this parser
        ptype = EVENT if ptype == PacketType.BINARY_EVENT else ACK
    wire: dict[str, Any] = {"type": int(ptype)}
    if packet.data is not None or ptype in (EVENT, ACK):
        # tuples pack as arrays, bytes / bytearray / memoryview as bin
        wire["data"] = packet.data if packet.data is not None else []
    wire["nsp"] = packet.namespace
    if packet.id is not None:
        wire["id"] = packet.id
    return _packb(wire)


def _valid_data(ptype: int, data: Any, present: bool) -> bool:
    if ptype == CONNECT:
        return not present or isinstance(data, dict)
    if ptype == DISCONNECT:
        return not present
    if ptype == CONNECT_ERROR:
        return isinstance(data, (str, dict))
    return isinstance(data, list)


def decode(message: str | bytes | bytearray | memoryview) -> Packet:
    """One binary Engine.IO message -> a Packet; ProtocolError for anything node's parser
    refuses (text messages included)."""
    if isinstance(message, str):
        raise ProtocolError("text message: the msgpack parser sends binary only")
    if _unpackb is None:
        require_msgpack()
    assert _unpackb is not None
    try:
        obj = _unpackb(bytes(message))
    except Exception as exc:
        raise ProtocolError(f"invalid msgpack: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a packet must be a map")
    ptype = obj.get("type")
    if type(ptype) is not int or not CONNECT <= ptype <= CONNECT_ERROR:
        raise ProtocolError("invalid packet type")
    nsp = obj.get("nsp")
    if not isinstance(nsp, str):
        raise ProtocolError("invalid namespace")
    present = "data" in obj and obj["data"] is not None
    data = obj.get("data")
    if not _valid_data(ptype, data, present):
        raise ProtocolError("invalid payload")
    if ptype == EVENT and not data:
        raise ProtocolError("an EVENT needs its name")
    ack_id = obj.get("id")
    if ack_id is not None and type(ack_id) is not int:
        raise ProtocolError("invalid packet id")
    return Packet(PacketType(ptype), nsp, data, ack_id)


class Decoder:
    """The socket.io Decoder's interface for this parser: one binary message, one packet
    (never buffers, so ``feed`` never returns None)."""

    __slots__ = ()

    @staticmethod
    def feed(data: str | bytes | bytearray | memoryview) -> Packet | None:
        return decode(data)

    def reset(self) -> None:
        return None
