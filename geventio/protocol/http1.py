"""HTTP/1.x request heads for the lean Engine.IO path: bytes in, a WSGI-style view out.

No sockets here. :func:`parse_head` reads one complete request head (request line and
header fields, up to the blank line) and gives it back with the header fields already
named as WSGI environ keys. It accepts only the plain, common shape of a request and
answers ``None`` for anything else (an incomplete head, HTTP/0.9 or 2, obsolete line
folding, a bare CR or LF, a field name that is not a token, a chunked request body, a HEAD
request, ``Expect`` other than ``100-continue``): the caller then hands the request to a
full HTTP server, which answers it by the book. The caller must not rely on ``None`` to
reject a request.
"""
from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

#: the longest request head this path takes (a longer one goes to the full server)
MAX_HEAD = 8192

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_METHODS = frozenset(("GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"))

# field name (as sent) -> environ key; "" for names WSGI servers drop (those with "_",
# which would collide with "-" once mapped). Bounded: names seen after it fills are
# mapped each time.
_KEYS: Dict[bytes, str] = {}
_KEYS_MAX = 512


def _environ_key(name: bytes) -> Optional[str]:
    key = _KEYS.get(name)
    if key is not None:
        return key
    if not _TOKEN.match(name):
        return None
    text = name.decode("ascii").upper()
    if "_" in text:
        key = ""
    elif text in ("CONTENT-TYPE", "CONTENT-LENGTH"):
        key = text.replace("-", "_")
    else:
        key = "HTTP_" + text.replace("-", "_")
    if len(_KEYS) < _KEYS_MAX:
        _KEYS[name] = key
    return key


class Head(NamedTuple):
    """One parsed request head."""

    method: str
    path: str            #: the request target up to ``?``, still percent-encoded
    query: str           #: after ``?``, or ""
    version: str         #: "HTTP/1.1" or "HTTP/1.0"
    environ: Dict[str, str]  #: HTTP_* / CONTENT_TYPE / CONTENT_LENGTH, repeated fields joined
    size: int            #: bytes of the head, blank line included
    keep_alive: bool     #: what the client asked for (HTTP/1.1 unless "close"; 1.0 never)
    upgrade: bool        #: ``Connection: upgrade`` or ``Upgrade: websocket`` (pywsgi's rule)


def parse_head(buf: bytes) -> Optional[Head]:
    """The request head at the start of ``buf``, or None (see the module docstring)."""
    end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        return None
    line_end = buf.find(b"\r\n", 0, end + 2)
    line = buf[:line_end]
    if b"\n" in line or b"\r" in line:
        return None  # a bare CR or LF
    words = line.split(b" ")
    if len(words) != 3:
        return None
    method_b, target_b, version_b = words
    if version_b == b"HTTP/1.1":
        version = "HTTP/1.1"
    elif version_b == b"HTTP/1.0":
        version = "HTTP/1.0"
    else:
        return None
    method = method_b.decode("latin-1")
    if method not in _METHODS or not target_b.startswith(b"/"):
        return None
    target = target_b.decode("latin-1")
    path, _, query = target.partition("?")
    # A client sends the same header fields request after request: parse each block once.
    fields = buf[line_end + 2:end + 2]
    parsed = _FIELDS.get(fields)
    if parsed is None:
        parsed = _parse_fields(fields)
        if parsed is None:
            return None
        if len(fields) <= _FIELDS_MAX_SIZE:
            if len(_FIELDS) >= _FIELDS_MAX:
                _FIELDS.clear()
            _FIELDS[fields] = parsed
    environ, connection, upgrade = parsed
    keep_alive = version == "HTTP/1.1" and not _has_token(connection, "close")
    return Head(method, path, query, version, dict(environ), end + 4, keep_alive, upgrade)


# header block (bytes, each field ending in CRLF) -> (environ, Connection lower-cased, upgrade)
_FIELDS: Dict[bytes, Tuple[Dict[str, str], str, bool]] = {}
_FIELDS_MAX = 128
_FIELDS_MAX_SIZE = 2048


def _parse_fields(fields: bytes) -> Optional[Tuple[Dict[str, str], str, bool]]:
    crlf = fields.count(b"\r\n")
    if fields.count(b"\n") != crlf or fields.count(b"\r") != crlf:
        return None  # a bare CR or LF
    environ: Dict[str, str] = {}
    for line in fields.split(b"\r\n")[:-1]:
        name, sep, value = line.partition(b":")
        if not sep or not name or line[:1] in b" \t":
            return None
        key = _KEYS.get(name)
        if key is None:
            key = _environ_key(name)
            if key is None:
                return None
        if not key:
            continue
        text = value.strip(b" \t").decode("latin-1")
        old = environ.get(key)
        if old is None:
            environ[key] = text
        elif key == "HTTP_COOKIE":
            environ[key] = old + "; " + text
        elif key == "CONTENT_LENGTH":
            if old != text:
                return None  # conflicting lengths: let the full server refuse it
        else:
            environ[key] = old + "," + text
    if "HTTP_TRANSFER_ENCODING" in environ:
        return None
    expect = environ.get("HTTP_EXPECT")
    if expect is not None and expect.lower() != "100-continue":
        return None
    length = environ.get("CONTENT_LENGTH")
    if length is not None and not (length.isascii() and length.isdigit()):
        return None
    connection = environ.get("HTTP_CONNECTION", "").lower()
    upgrade = (connection == "upgrade"
               or environ.get("HTTP_UPGRADE", "").lower() == "websocket")
    return environ, connection, upgrade


def _has_token(value: str, token: str) -> bool:
    if token not in value:
        return False
    return any(part.strip() == token for part in value.split(","))


# -- responses -------------------------------------------------------------------------------



def response_head(status: str, headers: List[Tuple[str, str]], extra: str = "") -> bytes:
    """``HTTP/1.1 <status>`` and ``headers`` (plus the preformatted ``extra`` lines, each
    ending in CRLF) as bytes, blank line included. Raises ValueError for a CR or LF in the
    status or a header, and UnicodeEncodeError for text outside Latin-1."""
    parts = ["HTTP/1.1 ", status, "\r\n"]
    for name, value in headers:
        parts.append(name)
        parts.append(": ")
        parts.append(value)
        parts.append("\r\n")
    text = "".join(parts)
    if text.count("\n") != len(headers) + 1 or text.count("\r") != len(headers) + 1:
        raise ValueError("CR or LF in a response status or header: %r" % (text[:200],))
    return (text + extra + "\r\n").encode("latin-1")


__all__ = ["Head", "MAX_HEAD", "parse_head", "response_head"]
