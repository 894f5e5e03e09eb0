"""Router settings: one dataclass, every default documented in one place."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from .protocol.permessage_deflate import DeflateOptions

LEGACY_TRANSPORTS = ("websocket", "flashsocket", "xhr-multipart", "xhr-polling",
                     "jsonp-polling", "htmlfile")

OriginsSetting = Union[None, str, Sequence[str], Callable[[str], bool]]


@dataclass
class Settings:
    """Everything a router can be told. Times are seconds (floats are honoured exactly).

    The first five are the seed's (TornadIO's) names and defaults; the rest cover today's
    clients, security bounds and resource limits.
    """

    #: socket.io 0.6 transports the router answers; a request for another one gets 403.
    enabled_protocols: List[str] = field(default_factory=lambda: list(LEGACY_TRANSPORTS))
    #: how often expired sessions are looked for.
    session_check_interval: float = 15.0
    #: a polling session with no GET attached for this long is closed.
    session_expiry: float = 30.0
    #: heartbeat period on streaming transports (websocket, flashsocket, xhr-multipart,
    #: htmlfile). Keep it under the 0.6 client's 15 s transport timeout.
    heartbeat_interval: float = 12.0
    #: how long an xhr-polling/jsonp-polling GET is held open when there is nothing to send.
    #: Keep it under the 0.6 client's 25 s request timeout.
    xhr_polling_timeout: float = 20.0

    #: Engine.IO transports offered to modern clients.
    transports: List[str] = field(default_factory=lambda: ["polling", "websocket"])
    #: Engine.IO v4 server ping period / pong deadline (v3: expected client ping period).
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    #: largest HTTP body or WebSocket message accepted, in bytes (all generations).
    max_http_buffer_size: int = 1_000_000
    #: largest Socket.IO binary packet a client may send, in bytes: its text header plus
    #: every attachment. An unfinished one (attachments announced, not all received) is
    #: buffered at most this much; past it the session closes. None: max_http_buffer_size,
    #: which is all one polling POST (carrying the whole packet) may hold.
    max_binary_packet_size: Optional[int] = None
    #: a modern client must CONNECT to a namespace within this time after the handshake.
    connect_timeout: float = 45.0
    #: allowed cross-origin pages: None (same origin only), '*', a list, or a callable
    #: taking the Origin header and returning a bool. Governs every protocol generation.
    cors_allowed_origins: OriginsSetting = None
    #: the Socket.IO packet codec for Engine.IO clients: 'default' (socket.io-parser) or
    #: 'msgpack' (node's socket.io-msgpack-parser 3.0.x: each packet one binary msgpack
    #: message; needs the msgpack package, and clients built with that parser).
    parser: str = "default"
    #: also serve Engine.IO v3 (socket.io-client 1.x/2.x).
    allow_eio3: bool = True
    #: node's ``allowRequest``: ``fn(request) -> bool`` (a geventio Request), asked before
    #: any session is made (every generation and transport, WebSocket included); False
    #: refuses with 403 (Engine.IO: node's ``{"code":4,"message":"Forbidden"}``). None: all.
    allow_request: Optional[Callable[[Any], bool]] = None
    #: a cookie holding the Engine.IO session id, set at the handshake (engine.io's
    #: ``cookie`` option) so a load balancer can stick every request of a session to one
    #: server: None (no cookie), True (the defaults), a cookie name, or a dict with
    #: ``name`` ('io'), ``path`` ('/'; None for no Path), ``httponly`` (True unless path
    #: is None), ``samesite`` ('lax'; 'strict', 'none' or None), ``secure`` (False),
    #: ``domain``, ``max_age``.
    cookie: Union[None, bool, str, Mapping[str, Any]] = None

    #: a session whose outbound queue grows past either bound is closed (slow client).
    max_queued_messages: int = 10_000
    max_queued_bytes: int = 16 * 1024 * 1024
    #: inbound messages waiting for the handler before reading pauses (backpressure).
    max_pending_messages: int = 1_000
    #: unanswered heartbeats after which a streaming 0.6 session is considered dead.
    max_missed_heartbeats: int = 2
    #: most sessions one router holds; further handshakes get 503.
    max_sessions: int = 100_000
    #: polling answers (Engine.IO v3/v4 incl. JSONP, 0.6 xhr-polling and jsonp-polling) of
    #: at least ``compression_threshold`` bytes go out gzip- or deflate-encoded when the
    #: request's Accept-Encoding allows (node's ``httpCompression``); smaller ones cost one
    #: length check.
    http_compression: bool = True
    compression_threshold: int = 1024
    #: permessage-deflate (RFC 7692) on RFC 6455 WebSockets (Engine.IO v3/v4 and 0.6),
    #: for clients that offer it: False (off, node's default), True (the defaults) or a
    #: dict of :class:`geventio.protocol.permessage_deflate.DeflateOptions` (``threshold``
    #: 1024, ``level``, ``mem_level``, ``server_no_context_takeover``,
    #: ``client_no_context_takeover``, ``server_max_window_bits``,
    #: ``client_max_window_bits``). Costs memory per connection: see README.
    per_message_deflate: Union[bool, Mapping[str, Any]] = False

    #: connection state recovery (Socket.IO v5 clients, node 4.6+ semantics): None (off),
    #: or the seconds a client may stay away and come back with its id, rooms, ``data``
    #: and every packet it missed (node's ``maxDisconnectionDuration``).
    connection_state_recovery: Optional[float] = None
    #: most packets kept for recovery in one process (the oldest go first; a Redis
    #: streams adapter keeps its stream's ``max_len`` instead).
    recovery_max_packets: int = 10_000
    #: most disconnected sessions kept waiting in one process (the oldest go first).
    recovery_max_sessions: int = 10_000

    @property
    def cookie_options(self) -> Optional[Dict[str, Any]]:
        """``cookie`` as keyword arguments of :func:`geventio.protocol.engineio.handshake_cookie`
        (None: no cookie)."""
        if self.cookie is None or self.cookie is False:
            return None
        if self.cookie is True:  # node's ``cookie: true``
            given: Dict[str, Any] = {}
        elif isinstance(self.cookie, str):
            given = {"name": self.cookie}
        else:
            given = dict(self.cookie)
        options: Dict[str, Any] = {"name": "io", "path": "/", "samesite": "lax"}
        options.update(given)
        options.setdefault("httponly", options["path"] is not None)
        return options

    @property
    def binary_packet_limit(self) -> int:
        """max_binary_packet_size, or max_http_buffer_size when that is None."""
        if self.max_binary_packet_size is None:
            return self.max_http_buffer_size
        return self.max_binary_packet_size

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[str, Any]]) -> "Settings":
        """Build settings from get_router's dict, rejecting unknown names."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError("unknown geventio setting(s): %s" % ", ".join(unknown))
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ValueError for settings that cannot work."""
        bad = [p for p in self.enabled_protocols if p not in LEGACY_TRANSPORTS]
        if bad:
            raise ValueError("unknown socket.io 0.6 transport(s) in enabled_protocols: %s"
                             % ", ".join(bad))
        if self.parser not in ("default", "msgpack"):
            raise ValueError("parser must be 'default' or 'msgpack', not %r" % (self.parser,))
        bad = [t for t in self.transports if t not in ("polling", "websocket")]
        if bad:
            raise ValueError("unknown Engine.IO transport(s): %s" % ", ".join(bad))
        for name in ("session_check_interval", "session_expiry", "heartbeat_interval",
                     "xhr_polling_timeout", "ping_interval", "ping_timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError("%s must be positive" % name)
        self._validate_cookie()
        if self.max_binary_packet_size is not None and int(self.max_binary_packet_size) < 1:
            raise ValueError("max_binary_packet_size must be at least 1 (or None)")
        if self.connection_state_recovery is not None and self.connection_state_recovery <= 0:
            raise ValueError("connection_state_recovery must be positive (or None)")
        DeflateOptions.from_setting(self.per_message_deflate)
        if int(self.compression_threshold) < 0:
            raise ValueError("compression_threshold must be at least 0")
        for name in ("max_http_buffer_size", "max_queued_messages", "max_queued_bytes",
                     "max_pending_messages", "max_missed_heartbeats", "max_sessions",
                     "recovery_max_packets", "recovery_max_sessions"):
            if int(getattr(self, name)) < 1:
                raise ValueError("%s must be at least 1" % name)

    def _validate_cookie(self) -> None:
        options = self.cookie_options
        if options is None:
            return
        unknown = sorted(set(options) - _COOKIE_KEYS)
        if unknown:
            raise ValueError("unknown cookie option(s): %s (known: %s)"
                             % (", ".join(unknown), ", ".join(sorted(_COOKIE_KEYS))))
        name = options["name"]
        if not isinstance(name, str) or not _COOKIE_NAME.match(name):
            raise ValueError("cookie name must be a non-empty token, got %r" % (name,))
        samesite = options["samesite"]
        if samesite is not None and str(samesite).lower() not in ("lax", "strict", "none"):
            raise ValueError("cookie samesite must be 'lax', 'strict', 'none' or None")
        for key in ("path", "domain"):
            value = options.get(key)
            if value is not None and (not isinstance(value, str) or not _COOKIE_ATTR.match(value)):
                raise ValueError("cookie %s %r has characters a cookie cannot carry"
                                 % (key, value))


_COOKIE_KEYS = frozenset(("name", "path", "httponly", "samesite", "secure", "domain",
                          "max_age"))
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_COOKIE_ATTR = re.compile(r"[\x21-\x3a\x3c-\x7e]+\Z")  # visible ASCII but ';'
