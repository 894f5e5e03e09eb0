"""Connection middleware (``Router.use``) and namespaces given by pattern.

A middleware is ``fn(conn, request, auth)``; it runs before ``on_open`` and refuses the
connection by raising :class:`~geventio.ConnectionRefused`. A namespace pattern is a
compiled regex (searched in the namespace name, as node's ``regex.test``) or a callable
``(name, auth) -> bool``.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Pattern, Sequence, Tuple, Union

from .exceptions import ConnectionRefused
from .request import Request

if TYPE_CHECKING:  # pragma: no cover
    from .connection import SocketConnection
    from .settings import Settings

log = logging.getLogger(__name__)

#: a middleware: ``fn(conn, request, auth)``, raising ConnectionRefused to refuse
Middleware = Callable[["SocketConnection", "Request", Mapping[str, Any]], Any]
#: a namespace pattern: a compiled regex or ``(name, auth) -> bool``
NamespacePattern = Union[Pattern[str], Callable[[str, Mapping[str, Any]], bool]]
#: what a middleware applies to: None (every namespace), a name or a namespace pattern
Scope = Union[None, str, NamespacePattern]


def is_pattern(key: Any) -> bool:
    """Whether a ``namespaces`` key is a pattern (a regex or a callable), not a name."""
    return not isinstance(key, str) and (hasattr(key, "search") or callable(key))


def pattern_matches(pattern: NamespacePattern, name: str, auth: Mapping[str, Any]) -> bool:
    """Whether namespace ``name`` (connecting with ``auth``) matches ``pattern``."""
    search = getattr(pattern, "search", None)
    if search is not None:
        return search(name) is not None
    return bool(pattern(name, auth))  # type: ignore[operator]


def in_scope(scope: Scope, name: str, auth: Mapping[str, Any]) -> bool:
    """Whether a middleware registered for ``scope`` applies to namespace ``name``."""
    if scope is None:
        return True
    if isinstance(scope, str):
        return scope == name
    return pattern_matches(scope, name, auth)


def run_middlewares(middlewares: Sequence[Tuple[Scope, Middleware]], conn: "SocketConnection",
                    request: "Request", auth: Mapping[str, Any]) -> Optional[ConnectionRefused]:
    """Run the middlewares that apply to ``conn``, in order; the first refusal is returned
    (an exception other than ConnectionRefused refuses as "Internal server error")."""
    for scope, fn in middlewares:
        if not in_scope(scope, conn.namespace, auth):
            continue
        try:
            fn(conn, request, auth)
        except ConnectionRefused as exc:
            return exc
        except Exception:
            log.exception("session %s: middleware %s of %s raised; refusing",
                          conn.session.id, getattr(fn, "__qualname__", fn), conn.namespace)
            return ConnectionRefused("Internal server error")
    return None


def request_allowed(settings: "Settings", environ: dict) -> bool:
    """Whether the ``allow_request`` setting lets this request open a session (one that
    raises refuses, with a log line)."""
    allow = settings.allow_request
    if allow is None:
        return True
    try:
        allowed = bool(allow(Request(environ)))
    except Exception:
        log.exception("allow_request raised; refusing the request")
        return False
    if not allowed:
        log.info("allow_request refused %s %s", environ.get("REQUEST_METHOD"),
                 environ.get("PATH_INFO"))
    return allowed
