"""A read-only view of the WSGI request that opened a connection."""
from __future__ import annotations

import io
import sys
from typing import Any, Dict, Mapping, Optional
from urllib.parse import parse_qs


def parse_cookies(header: str) -> Dict[str, str]:
    """The name -> value pairs of a ``Cookie`` header, parsed leniently (RFC 6265 §5.2-style).

    The header is split on ``;``; in each part the first ``=`` separates the name from the
    value, both are stripped of spaces and tabs, and a value wholly inside double quotes loses
    them (nothing else is unescaped). A part without ``=`` or with an empty name is skipped;
    a malformed part never costs the others, unlike ``http.cookies.SimpleCookie``, which
    stops at the first cookie it cannot read (an unterminated quote, a space or ``:`` in a
    name). A name given twice keeps its first value, as Werkzeug's ``request.cookies.get``
    and node's ``cookie`` package do: browsers send the most specific cookie (longest path)
    first (RFC 6265 §5.4).
    """
    cookies: Dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.strip(" \t")
        if not name or name in cookies:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers taken from a WSGI environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        items: Dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                items[key[5:].replace("_", "-").lower()] = value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                items[key.replace("_", "-").lower()] = value
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __repr__(self) -> str:
        return "Headers(%r)" % self._items


class Request:
    """What a handler may know about the request that opened its connection.

    ``environ`` is a shallow copy taken when the connection opened (the server's own
    per-request objects are dropped so nothing holds the socket); ``headers``, ``cookies``
    and ``args`` are parsed lazily.
    """

    __slots__ = ("environ", "_headers", "_cookies", "_args")

    _DROP = ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper", "wsgi.websocket")

    def __init__(self, environ: Mapping[str, object]) -> None:
        self.environ: Dict[str, Any] = {k: v for k, v in environ.items()
                                        if k not in self._DROP}
        self._headers: Optional[Headers] = None
        self._cookies: Optional[Dict[str, str]] = None
        self._args: Optional[Dict[str, str]] = None

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.environ)
        return self._headers

    @property
    def cookies(self) -> Dict[str, str]:
        if self._cookies is None:
            self._cookies = parse_cookies(str(self.environ.get("HTTP_COOKIE", "")))
        return self._cookies

    @property
    def args(self) -> Dict[str, str]:
        """Query arguments; the first value of each name."""
        if self._args is None:
            parsed = parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True)
            self._args = {k: v[0] for k, v in parsed.items()}
        return self._args

    def wsgi_environ(self) -> Dict[str, Any]:
        """A fresh WSGI environ of this request for a web framework to build its own request
        object from (geventio.flask, geventio.django): a copy of ``environ`` with an empty
        ``wsgi.input`` (the body is not kept) and a ``wsgi.errors`` stream."""
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO()
        environ["wsgi.errors"] = sys.stderr
        environ["CONTENT_LENGTH"] = "0"
        return environ

    @property
    def remote_addr(self) -> str:
        return str(self.environ.get("REMOTE_ADDR", ""))

    @property
    def path(self) -> str:
        return str(self.environ.get("PATH_INFO", ""))

    def __repr__(self) -> str:
        return "<Request %s %s from %s>" % (
            self.environ.get("REQUEST_METHOD"), self.path, self.remote_addr)
