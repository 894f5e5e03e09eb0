"""node's ``@socket.io/redis-adapter`` 8.x wire format (classic pub/sub), sans I/O.

Channels (``key`` defaults to ``socket.io``; one set per namespace)::

    {key}#{nsp}#            broadcasts to everyone, or to several rooms (PSUBSCRIBE {key}#{nsp}#*)
    {key}#{nsp}#{room}#     broadcasts to exactly one room (a socket id is a room)
    {key}-request#{nsp}#    requests (SUBSCRIBE: this is what PUBSUB NUMSUB counts)
    {key}-response#{nsp}#   responses (and {key}-response#{nsp}#{uid}# for one requester)

A broadcast is the msgpack array ``[uid, {"type": 2, "data": [event, *args], "nsp": nsp},
{"rooms": [...], "except": [...], "flags": {...}}]``. Binary travels as msgpack ``bin`` inside
``data`` with the packet type left at 2 (a type 5 makes node clients drop with "Illegal
attachments"). Dates are the msgpack timestamp extension; received ones become the ISO-8601
strings node's clients see.

Requests and responses are JSON, except the broadcast-with-ack request (type 7) and the
client acknowledgements (type 9), which are msgpack; a body starting with ``{`` is JSON,
anything else msgpack, as node decodes them. Requests and responses that carry binary are
sent as msgpack (JSON cannot carry bytes).
"""
from __future__ import annotations

import datetime
import enum
import json
import secrets
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

try:  # an optional dependency: only cluster adapters and the emitter need it
    import msgpack
except ImportError:  # pragma: no cover - checked by require_msgpack()
    msgpack = None

__all__ = [
    "RequestType", "Channels", "Broadcast", "new_uid", "encode_broadcast", "decode_broadcast",
    "encode_request", "decode_request", "has_binary", "require_msgpack",
    "EMITTER_UID", "encode_emitter_broadcast", "encode_emitter_rooms_request",
    "encode_emitter_disconnect", "encode_emitter_server_side_emit",
]

EVENT = 2
BINARY_EVENT = 5

_UID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


class RequestType(enum.IntEnum):
    """The ``type`` of a request or response (lib/index.ts's RequestType)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


def require_msgpack() -> None:
    """Raise ImportError with the install hint when msgpack is missing."""
    if msgpack is None:
        raise ImportError("the Redis adapter needs msgpack and redis: "
                          "pip install 'geventio[redis]'")


def new_uid(length: int = 6) -> str:
    """A random id like node's ``uid2(6)``: server uids and request ids."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(length))


class Channels:
    """The channel names of one namespace under one key."""

    __slots__ = ("key", "namespace", "broadcast", "pattern", "request", "response")

    def __init__(self, key: str, namespace: str) -> None:
        self.key = key
        self.namespace = namespace
        self.broadcast = "%s#%s#" % (key, namespace)
        self.pattern = self.broadcast + "*"
        self.request = "%s-request#%s#" % (key, namespace)
        self.response = "%s-response#%s#" % (key, namespace)

    def room(self, room: str) -> str:
        """The channel of a broadcast to exactly one room."""
        return "%s%s#" % (self.broadcast, room)

    def for_rooms(self, rooms: Sequence[str]) -> str:
        """Where a broadcast to ``rooms`` is published (node: a room channel for one)."""
        return self.room(rooms[0]) if len(rooms) == 1 else self.broadcast

    def specific_response(self, uid: str) -> str:
        """The response channel of one requester."""
        return "%s%s#" % (self.response, uid)

    def room_of(self, channel: str) -> Optional[str]:
        """The room a broadcast channel names ("" for the namespace channel), or None
        when the channel is not one of this namespace's broadcast channels."""
        if not channel.startswith(self.broadcast) or not channel.endswith("#"):
            return None
        return channel[len(self.broadcast):-1]


# -- broadcasts ---------------------------------------------------------------------------

class Broadcast(NamedTuple):
    """A decoded broadcast message."""

    uid: Any
    namespace: str
    data: List[Any]
    rooms: List[str]
    except_rooms: List[str]
    flags: Dict[str, Any]


def pack(obj: Any) -> bytes:
    """msgpack as node's adapters write it (bytes as ``bin``, dates as timestamps)."""
    return msgpack.packb(obj, use_bin_type=True, datetime=True)


def unpack(body: bytes) -> Any:
    """msgpack as node's adapters write it (dates are left as datetimes: see dates)."""
    return msgpack.unpackb(body, raw=False, timestamp=3, strict_map_key=False)


def encode_broadcast(uid: str, namespace: str, data: Sequence[Any],
                     rooms: Sequence[str] = (), except_rooms: Sequence[str] = (),
                     flags: Optional[Dict[str, Any]] = None) -> bytes:
    """``[uid, packet, opts]`` as node's adapter publishes it (same key order, so the bytes
    are node's); binary stays inside ``data`` with type 2."""
    require_msgpack()
    packet = {"type": EVENT, "data": list(data), "nsp": namespace}
    opts = {"rooms": list(rooms), "except": list(except_rooms), "flags": flags or {}}
    return pack([uid, packet, opts])


def decode_broadcast(body: bytes) -> Broadcast:
    """A broadcast message (any key order; missing ``nsp`` is "/", missing ``rooms`` /
    ``except`` are empty). Dates become node's ISO strings. Raises ValueError when the body
    is not a broadcast of an event."""
    require_msgpack()
    try:
        message = unpack(body)
    except Exception as exc:
        raise ValueError("not msgpack: %s" % exc) from None
    if not isinstance(message, list) or len(message) < 2 or not isinstance(message[1], dict):
        raise ValueError("not a [uid, packet, opts] array")
    packet = message[1]
    opts = message[2] if len(message) > 2 and isinstance(message[2], dict) else {}
    if packet.get("type", EVENT) not in (EVENT, BINARY_EVENT):
        raise ValueError("packet type %r is not an event" % (packet.get("type"),))
    data = packet.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ValueError("packet data is not [event, *args]")
    namespace = packet.get("nsp")
    return Broadcast(message[0], "/" if namespace is None else namespace, dates(data),
                     list(opts.get("rooms") or ()), list(opts.get("except") or ()),
                     opts.get("flags") or {})


def dates(obj: Any) -> Any:
    """``obj`` with every datetime turned into node's JSON form of a Date."""
    if isinstance(obj, datetime.datetime):
        return iso_date(obj)
    if isinstance(obj, list):
        if any(isinstance(v, (datetime.datetime, list, dict)) for v in obj):
            return [dates(v) for v in obj]
        return obj
    if isinstance(obj, dict):
        if any(isinstance(v, (datetime.datetime, list, dict)) for v in obj.values()):
            return {k: dates(v) for k, v in obj.items()}
        return obj
    return obj


def iso_date(value: datetime.datetime) -> str:
    """A datetime as ``Date.prototype.toJSON`` writes it: UTC, milliseconds, ``Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


# -- requests and responses ---------------------------------------------------------------

def has_binary(obj: Any) -> bool:
    """Whether ``obj`` holds bytes anywhere (then it cannot travel as JSON)."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return True
    if isinstance(obj, (list, tuple)):
        return any(has_binary(v) for v in obj)
    if isinstance(obj, dict):
        return any(has_binary(v) for v in obj.values())
    return False


def json_default(obj: Any) -> Any:
    """``json.dumps``'s default for what node's JSON would write (dates, sets)."""
    if isinstance(obj, datetime.datetime):
        return iso_date(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError("%s is not JSON serializable" % type(obj).__name__)


def encode_request(message: Dict[str, Any], binary: Optional[bool] = None) -> bytes:
    """A request or response body: msgpack for types 7 and 9 (as node) and for anything
    holding bytes, compact JSON otherwise (key order kept, so the bytes are node's)."""
    kind = message.get("type")
    if binary is None:
        binary = kind in (RequestType.BROADCAST, RequestType.BROADCAST_ACK) \
            or has_binary(message)
    if binary:
        require_msgpack()
        return pack(message)
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False,
                      default=json_default).encode("utf-8")


def decode_request(body: bytes) -> Dict[str, Any]:
    """A request or response: JSON when it starts with ``{``, msgpack otherwise. Raises
    ValueError when it is neither or not an object."""
    if body[:1] == b"{":
        try:
            message = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError("bad JSON: %s" % exc) from None
    else:
        require_msgpack()
        try:
            message = dates(unpack(body))
        except Exception as exc:
            raise ValueError("not msgpack: %s" % exc) from None
    if not isinstance(message, dict):
        raise ValueError("a request is an object")
    return message


def request_opts(rooms: Sequence[str], except_rooms: Sequence[str]) -> Dict[str, List[str]]:
    """The ``opts`` of a join / leave / disconnect / fetch request."""
    return {"rooms": list(rooms), "except": list(except_rooms)}


def read_opts(message: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(rooms, except) of a request's ``opts`` (missing: empty)."""
    opts = message.get("opts") or {}
    return list(opts.get("rooms") or ()), list(opts.get("except") or ())


# -- @socket.io/redis-emitter 5.x (write-only publishers: geventio.Emitter) ----------------
# Measured against node's emitter (cluster-wire-and-recovery.md §1.9 and
# tests/test_emitter.py): the uid is "emitter", the broadcast opts keys come in the order
# rooms, flags, except, and the requests are JSON with no uid except in SERVER_SIDE_EMIT.

EMITTER_UID = "emitter"


def encode_emitter_broadcast(namespace: str, data: Sequence[Any], rooms: Sequence[str] = (),
                             except_rooms: Sequence[str] = (),
                             flags: Optional[Dict[str, Any]] = None) -> bytes:
    """A broadcast as node's emitter publishes it (publish it on
    ``Channels.for_rooms(rooms)``): ``["emitter", packet, {rooms, flags, except}]``."""
    require_msgpack()
    packet = {"type": EVENT, "data": list(data), "nsp": namespace}
    opts = {"rooms": list(rooms), "flags": flags or {}, "except": list(except_rooms)}
    return pack([EMITTER_UID, packet, opts])


def encode_emitter_rooms_request(kind: RequestType, rooms: Sequence[str],
                                 except_rooms: Sequence[str],
                                 target_rooms: Sequence[str]) -> bytes:
    """REMOTE_JOIN or REMOTE_LEAVE as node's emitter sends it (``socketsJoin`` /
    ``socketsLeave``): the sockets in ``rooms`` but not ``except_rooms`` (all when ``rooms``
    is empty) join / leave ``target_rooms``."""
    if kind not in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE):
        raise ValueError("not a join or leave request: %r" % (kind,))
    return encode_request({"type": int(kind), "opts": request_opts(rooms, except_rooms),
                           "rooms": list(target_rooms)})


def encode_emitter_disconnect(rooms: Sequence[str], except_rooms: Sequence[str],
                              close: bool) -> bytes:
    """REMOTE_DISCONNECT as node's emitter sends it (``disconnectSockets(close)``)."""
    return encode_request({"type": int(RequestType.REMOTE_DISCONNECT),
                           "opts": request_opts(rooms, except_rooms), "close": bool(close)})


def encode_emitter_server_side_emit(data: Sequence[Any]) -> bytes:
    """SERVER_SIDE_EMIT as node's emitter sends it: ``{"uid": "emitter", "type": 6, "data":
    [event, *args]}``, no ``requestId`` (an emitter takes no answers). JSON, as node's;
    msgpack when ``data`` holds bytes (node's JSON would turn a Buffer into an object)."""
    return encode_request({"uid": EMITTER_UID, "type": int(RequestType.SERVER_SIDE_EMIT),
                           "data": list(data)})
