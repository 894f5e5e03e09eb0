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
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

#: the longest request head this path takes (a longer one goes to the full server)
MAX_HEAD = 8192

#: the default bound on a whole request head (request line, fields, blank line), as node's
MAX_HEADER_SIZE = 16 * 1024
#: most header fields one request may carry
MAX_FIELDS = 100

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
    if crlf > MAX_FIELDS + 1:
        return None  # the full server refuses it
    length = environ.get("CONTENT_LENGTH")
    if length is not None and not (length.isascii() and length.isdigit() and len(length) < 19):
        return None
    connection = environ.get("HTTP_CONNECTION", "").lower()
    upgrade = (connection == "upgrade"
               or environ.get("HTTP_UPGRADE", "").lower() == "websocket")
    return environ, connection, upgrade


def _has_token(value: str, token: str) -> bool:
    if token not in value:
        return False
    return any(part.strip() == token for part in value.split(","))


# -- framing policy (RFC 9112 6.1, 6.3): one for the lean path and the full server -------------
#
# The lean parser above declines (None) every head this policy would refuse or rewrite, so
# such requests reach the full server, whose handler (geventio.server.Handler) applies
# :func:`body_length` to the fields it read and refuses with 400 and a closed connection.


class FramingError(ValueError):
    """A request whose body framing is ambiguous or unsupported: answer 400 and close."""


_DIGITS = re.compile(r"[0-9]{1,18}\Z")


def is_token(name: bytes) -> bool:
    """True if ``name`` is a valid field name (an RFC 9110 token: no spaces, no colon)."""
    return _TOKEN.match(name) is not None


class HeadTooLargeError(ValueError):
    """A request head over the size bound, or with too many fields: answer 431 and close."""


def read_fields(readline: Callable[[int], bytes], budget: int) -> List[Tuple[bytes, bytes]]:
    """Read header fields with ``readline(limit)`` up to and including the blank line, at
    most ``budget`` bytes in all; give back (name, value) pairs, values stripped. Raises
    :class:`HeadTooLargeError` past ``budget`` or :data:`MAX_FIELDS`, :class:`FramingError` for
    a line that is not ``name: value`` with a token name (whitespace before the colon,
    obsolete line folding), and EOFError if the client stops before the blank line."""
    fields: List[Tuple[bytes, bytes]] = []
    while True:
        if budget <= 0:
            raise HeadTooLargeError("request head too large")
        line = readline(budget)
        if not line:
            raise EOFError("the client closed the connection within the request head")
        budget -= len(line)
        if not line.endswith(b"\n"):
            raise HeadTooLargeError("request head too large")
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if not line:
            return fields
        if len(fields) >= MAX_FIELDS:
            raise HeadTooLargeError("too many header fields")
        name, sep, value = line.partition(b":")
        if not sep or not is_token(name) or b"\r" in line or b"\0" in line:
            raise FramingError("malformed header field line")
        fields.append((name, value.strip(b" \t")))


def body_length(version: str, lengths: List[str], codings: List[str]) -> Optional[int]:
    """The Content-Length of a request whose ``Content-Length`` and ``Transfer-Encoding``
    field values (each field as sent) are ``lengths`` and ``codings``: None when it has
    none (or is chunked). Raises :class:`FramingError` for: both fields together, any
    transfer coding other than exactly ``chunked`` (or one in HTTP/1.0), a length that is
    not 1 to 18 digits, and differing lengths. Identical lengths repeated (as fields or as
    a comma-separated list) count as one, which RFC 9112 6.3 allows."""
    if codings:
        if lengths:
            raise FramingError("Transfer-Encoding together with Content-Length")
        if version == "HTTP/1.0":
            raise FramingError("Transfer-Encoding in an HTTP/1.0 request")
        items = [item.strip(" \t").lower() for value in codings for item in value.split(",")]
        if items != ["chunked"]:
            raise FramingError("unsupported Transfer-Encoding")
        return None
    if not lengths:
        return None
    found: Optional[str] = None
    for value in lengths:
        for item in value.split(","):
            item = item.strip(" \t")
            if not _DIGITS.match(item):
                raise FramingError("invalid Content-Length")
            if found is None:
                found = item
            elif int(item) != int(found):
                raise FramingError("conflicting Content-Length values")
    return int(found) if found is not None else None


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


def refusal(status: str, reason: str) -> bytes:
    """A complete plain-text error response that announces the connection's close."""
    body = reason.encode("latin-1", "replace")
    return response_head(status, [("Content-Type", "text/plain; charset=UTF-8"),
                                  ("Content-Length", str(len(body))),
                                  ("Connection", "close")]) + body


__all__ = ["FramingError", "Head", "HeadTooLargeError", "MAX_FIELDS", "MAX_HEAD",
           "MAX_HEADER_SIZE", "body_length",
           "is_token", "parse_head", "read_fields", "refusal", "response_head"]
