"""Origin checks and CORS response headers, for every protocol generation."""
from __future__ import annotations

from typing import List, Mapping, Optional, Tuple

from .settings import OriginsSetting

Header = Tuple[str, str]


def own_origin(environ: Mapping[str, object]) -> str:
    """``scheme://host[:port]`` of the request as the client addressed it."""
    scheme = str(environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http"))
    host = environ.get("HTTP_HOST")
    if not host:
        host = str(environ.get("SERVER_NAME", ""))
        port = str(environ.get("SERVER_PORT", ""))
        if port and port not in ("80", "443"):
            host = "%s:%s" % (host, port)
    return "%s://%s" % (scheme.lower(), str(host).lower())


def origin_allowed(origin: Optional[str], environ: Mapping[str, object],
                   allowed: OriginsSetting) -> bool:
    """Whether a request carrying ``Origin: origin`` may be served.

    Requests without an Origin header (non-browser clients, same-origin GETs, <script>
    tags) are always served: CORS is about what a page from elsewhere may read.
    """
    if not origin:
        return True
    if allowed is None:
        return origin.lower() == own_origin(environ)
    if callable(allowed):
        try:
            return bool(allowed(origin))
        except Exception:
            return False
    if isinstance(allowed, str):
        return allowed == "*" or origin == allowed
    return origin in allowed


def cors_headers(environ: Mapping[str, object], allowed: OriginsSetting) -> List[Header]:
    """Headers letting the requesting page read the response (empty when no Origin)."""
    origin = environ.get("HTTP_ORIGIN")
    if not origin or not origin_allowed(str(origin), environ, allowed):
        return []
    # The origin is echoed (never "*") so that credentialed requests work too.
    return [("Access-Control-Allow-Origin", str(origin)),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin")]


def preflight_headers(environ: Mapping[str, object], allowed: OriginsSetting,
                      methods: str = "GET, POST, OPTIONS") -> List[Header]:
    """Headers answering an OPTIONS preflight."""
    headers = cors_headers(environ, allowed)
    headers.append(("Access-Control-Allow-Methods", methods))
    requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
    if requested:
        headers.append(("Access-Control-Allow-Headers", str(requested)))
    headers.append(("Access-Control-Max-Age", "86400"))
    return headers
