"""Sticky routing for ``geventio-serve --workers N``: which worker owns a request.

Sans-I/O. Each worker's session ids start with its tag (one base64url character: worker
``i`` has ``ALPHABET[i]``), so the owner of a request is read from its request line alone:

* Engine.IO (every transport): the ``sid`` query parameter (a handshake has none);
* socket.io 0.6: ``/<resource>/<transport>/<sid>/...`` (a handshake's sid is empty; the
  0.6 websocket and flashsocket URLs carry none: their connection stays where it started).

A request naming no session, or a session whose tag is no worker's, has no owner: any worker
may take it (a session id no worker made is answered as unknown wherever it lands). A
request opening a session goes to the next worker in turn, even on a kept-alive connection
(:func:`opens_session`), so new sessions spread evenly.
"""
from __future__ import annotations

import string
from typing import Optional

#: base64url's alphabet in its own order (the first character of a session id)
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
MAX_WORKERS = len(ALPHABET)
SESSION_ID_LENGTH = 20
LEGACY_TRANSPORTS = frozenset((b"websocket", b"flashsocket", b"xhr-polling", b"jsonp-polling",
                               b"xhr-multipart", b"htmlfile"))
_ID_BYTES = frozenset(ALPHABET.encode("ascii"))
_INDEX = {ord(char): index for index, char in enumerate(ALPHABET)}


def tag(index: int) -> str:
    """The first character of every session id worker ``index`` makes."""
    if not 0 <= index < MAX_WORKERS:
        raise ValueError("a worker index is 0..%d, not %d" % (MAX_WORKERS - 1, index))
    return ALPHABET[index]


def _session_id(candidate: bytes) -> Optional[bytes]:
    if len(candidate) == SESSION_ID_LENGTH and _ID_BYTES.issuperset(candidate):
        return candidate
    return None


def session_id(head: bytes) -> Optional[bytes]:
    """The session id the request line at the start of ``head`` names, or None."""
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    parts = line.split(b" ")
    if len(parts) < 2:
        return None
    path, _, query = parts[1].partition(b"?")
    if query:
        for param in query.split(b"&"):
            if param.startswith(b"sid="):
                return _session_id(param[4:])
    segments = path.split(b"/")
    for position, segment in enumerate(segments[:-1]):
        if segment in LEGACY_TRANSPORTS:
            return _session_id(segments[position + 1])
    return None


def opens_session(head: bytes) -> bool:
    """True for a request that makes a new session: an Engine.IO request without ``sid``,
    a 0.6 transport URL whose sid is empty (or absent: websocket, flashsocket)."""
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    parts = line.split(b" ")
    if len(parts) < 2:
        return False
    path, _, query = parts[1].partition(b"?")
    params = query.split(b"&") if query else []
    if any(param.startswith(b"EIO=") for param in params):
        return not any(param.startswith(b"sid=") for param in params)
    segments = path.split(b"/")
    for position, segment in enumerate(segments):
        if segment in LEGACY_TRANSPORTS:
            return position + 1 >= len(segments) or not segments[position + 1]
    return False


def owner(head: bytes, workers: int) -> Optional[int]:
    """The index of the worker (of ``workers``) owning the request at the start of
    ``head``, or None when any worker may take it."""
    sid = session_id(head)
    if sid is None:
        return None
    index = _INDEX[sid[0]]
    return index if index < workers else None
