"""node's generic ClusterAdapter messages and the ``@socket.io/redis-streams-adapter`` 0.3.x
wire format, sans I/O.

A message is ``{"uid", "nsp", "type", "data"}`` with ``type`` one of :class:`MessageType`
(socket.io-adapter's ``cluster-adapter.ts``). The streams adapter carries them two ways:

* persistent ones (a broadcast without ack, joins, leaves, disconnects) as stream entries,
  ``XADD <stream> MAXLEN ~ <max_len> * uid <uid> nsp <nsp> type <type> data <data>``;
  ``data`` is JSON, or base64 of msgpack when it holds binary. The entry id is the offset.
* ephemeral ones (a broadcast with ack, fetch, server-side emit) as a whole msgpack
  message PUBLISHed on ``<prefix>#<nsp>#``; responses on ``<prefix>#<nsp>#<requester>#``.

A disconnected session is ``SET <session prefix><pid> base64(msgpack({sid, pid, rooms,
data})) PX <ms>``.
"""
from __future__ import annotations

import base64
import enum
import json
import re
import secrets
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .redis_wire import dates, has_binary, json_default, pack, require_msgpack, unpack


class MessageType(enum.IntEnum):
    """The ``type`` of a cluster message (cluster-adapter.ts's MessageType)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


RESPONSES = frozenset((MessageType.FETCH_SOCKETS_RESPONSE,
                       MessageType.SERVER_SIDE_EMIT_RESPONSE,
                       MessageType.BROADCAST_CLIENT_COUNT, MessageType.BROADCAST_ACK))

#: the types whose data may hold binary (sent as base64 msgpack in a stream entry)
_MAY_HOLD_BINARY = frozenset((MessageType.BROADCAST, MessageType.FETCH_SOCKETS_RESPONSE,
                              MessageType.SERVER_SIDE_EMIT,
                              MessageType.SERVER_SIDE_EMIT_RESPONSE, MessageType.BROADCAST_ACK))

_OFFSET = re.compile(r"[0-9]+-[0-9]+\Z")


def new_id() -> str:
    """A server uid or request id as node's ClusterAdapter makes them: 16 hex digits."""
    return secrets.token_hex(8)


def message(uid: str, namespace: str, kind: MessageType,
            data: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A cluster message (``data`` left out when None, as node's)."""
    out: Dict[str, Any] = {"uid": uid, "nsp": namespace, "type": int(kind)}
    if data is not None:
        out["data"] = data
    return out


def opts(rooms: Optional[Sequence[str]], except_rooms: Sequence[str],
         flags: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """A message's ``opts``: ``{rooms, except, flags}`` (no rooms: everyone)."""
    return {"rooms": list(rooms or ()), "except": list(except_rooms), "flags": dict(flags or {})}


def read_opts(data: Mapping[str, Any]) -> Tuple[List[str], List[str], Dict[str, Any]]:
    """(rooms, except, flags) of a message's ``opts`` (missing: empty)."""
    o = data.get("opts") or {}
    return list(o.get("rooms") or ()), list(o.get("except") or ()), dict(o.get("flags") or {})


def is_ephemeral(msg: Mapping[str, Any]) -> bool:
    """Whether node's streams adapter publishes ``msg`` over pub/sub, not the stream."""
    kind = msg.get("type")
    if kind == MessageType.BROADCAST:
        return (msg.get("data") or {}).get("requestId") is not None
    return kind in (MessageType.SERVER_SIDE_EMIT, MessageType.FETCH_SOCKETS)


# -- stream entries ------------------------------------------------------------------------

def encode_entry(msg: Mapping[str, Any]) -> Dict[str, str]:
    """A message as the fields of a stream entry (node's key order)."""
    fields = {"uid": msg["uid"], "nsp": msg["nsp"], "type": str(int(msg["type"]))}
    data = msg.get("data")
    if data:
        if msg["type"] in _MAY_HOLD_BINARY and has_binary(data):
            require_msgpack()
            fields["data"] = base64.b64encode(pack(data)).decode("ascii")
        else:
            fields["data"] = json.dumps(data, separators=(",", ":"), ensure_ascii=False,
                                        default=json_default)
    return fields


def decode_entry(fields: Mapping[Any, Any]) -> Dict[str, Any]:
    """A stream entry's fields (bytes or str) as a message. Raises ValueError."""
    text = {_text(k): _text(v) for k, v in fields.items()}
    try:
        out: Dict[str, Any] = {"uid": text.get("uid"), "nsp": text.get("nsp"),
                               "type": int(text.get("type", ""))}
    except ValueError:
        raise ValueError("an entry without a numeric type") from None
    raw = text.get("data")
    if raw:
        if raw.startswith("{"):
            out["data"] = json.loads(raw)
        else:
            require_msgpack()
            try:
                out["data"] = dates(unpack(base64.b64decode(raw)))
            except Exception as exc:
                raise ValueError("data is neither JSON nor base64 msgpack: %s" % exc) from None
    return out


def valid_offset(offset: str) -> bool:
    """Whether ``offset`` is a stream entry id (``<ms>-<seq>``)."""
    return bool(_OFFSET.match(offset))


def next_offset(offset: str) -> str:
    """The smallest id after ``offset`` (an exclusive XRANGE start on any Redis)."""
    ms, _, seq = offset.partition("-")
    return "%s-%d" % (ms, int(seq) + 1)


# -- pub/sub ---------------------------------------------------------------------------------

def public_channel(prefix: str, namespace: str) -> str:
    """Where ephemeral requests are published (what PUBSUB NUMSUB counts)."""
    return "%s#%s#" % (prefix, namespace)


def private_channel(prefix: str, namespace: str, uid: str) -> str:
    """Where the responses to ``uid``'s requests are published."""
    return "%s#%s#%s#" % (prefix, namespace, uid)


def encode_published(msg: Mapping[str, Any]) -> bytes:
    """An ephemeral message or a response: the whole message as msgpack."""
    require_msgpack()
    return pack(dict(msg))


def decode_published(body: bytes) -> Dict[str, Any]:
    """A message or response read from pub/sub. Raises ValueError."""
    require_msgpack()
    try:
        msg = dates(unpack(body))
    except Exception as exc:
        raise ValueError("not msgpack: %s" % exc) from None
    if not isinstance(msg, dict):
        raise ValueError("a cluster message is a map")
    return msg


# -- sessions --------------------------------------------------------------------------------

def encode_session(sid: str, pid: str, rooms: Sequence[str], data: Any) -> str:
    """A session as node's streams adapter stores it: base64 of msgpack."""
    require_msgpack()
    return base64.b64encode(pack({"sid": sid, "pid": pid, "rooms": list(rooms),
                                  "data": data})).decode("ascii")


def decode_session(raw: Any) -> Dict[str, Any]:
    """A stored session. Raises ValueError."""
    require_msgpack()
    try:
        session = dates(unpack(base64.b64decode(raw)))
    except Exception as exc:
        raise ValueError("not a stored session: %s" % exc) from None
    if not isinstance(session, dict) or not isinstance(session.get("sid"), str):
        raise ValueError("a stored session has a sid")
    return session


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
