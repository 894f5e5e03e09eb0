"""Engine.IO HTTP long-polling (revisions 3 and 4, and v3's JSONP).

GET receives: answered at once when packets wait, else held until one arrives (a ping
comes every ``ping_interval``). POST sends: any number of packets, bounded by bytes
(``max_http_buffer_size``), never by count. One GET and one POST at a time per session; a
second GET closes the session. A client that aborts its waiting GET closes the session.
"""
from __future__ import annotations

import logging
import re
import socket
from typing import Dict, List, Optional, Sequence, Tuple

from ..engine import NOOP, EngineSession, as_packet, polling_payload_v4
from ..session import Item
from ..protocol import engineio as eio
from ..protocol.legacy import script_string
from ..request import Request
from .http import EIOError, Exchange, HTTPError, form_field, watch_disconnect

log = logging.getLogger(__name__)

#: how long a client's CLOSE over POST waits for a GET sent at the same moment to attach
CLOSE_POLL_GRACE = 0.1


def new_session(ex: Exchange, transport: str, version: int, b64: bool) -> EngineSession:
    """A new Engine.IO session of the router's ``engine_session_class`` (TooManySessions
    at ``max_sessions``)."""
    ctx = ex.context
    return ctx.sessions.create(ctx.engine_session_class, ctx, Request(ex.environ), transport,
                               version, b64, ex.extra)


def handle(ex: Exchange, version: int, query: Dict[str, str]) -> List[bytes]:
    sid = query.get("sid")
    jsonp = query.get("j")
    if jsonp is not None and (version != 3 or not (jsonp.isascii() and jsonp.isdigit())
                              or len(jsonp) > 6):
        raise EIOError(3, "bad JSONP index %r" % jsonp[:20])
    if not sid:
        if ex.method != "GET":
            raise EIOError(2, "a handshake must be a GET, not %s" % ex.method)
        b64 = query.get("b64") in ("1", "true") or jsonp is not None
        session = new_session(ex, "polling", version, b64)
        upgrades = ["websocket"] if "websocket" in ex.context.settings.transports else []
        session.open(upgrades)
        return _poll(ex, session, jsonp, handshake_headers(ex, session))
    found = ex.context.sessions.get(sid)
    if not isinstance(found, EngineSession):
        raise EIOError(1, "unknown session id")
    session = found
    if session.eio != version:
        raise EIOError(3, "session %s speaks Engine.IO %d" % (sid, session.eio))
    if session.upgraded:
        raise EIOError(3, "session %s is not polling" % sid)
    if ex.method == "GET":
        return _poll(ex, session, jsonp)
    if ex.method == "POST":
        return _post(ex, session, jsonp is not None)
    raise EIOError(3, "method %s not allowed on a polling session" % ex.method)


def handshake_headers(ex: Exchange, session: EngineSession) -> List[Tuple[str, str]]:
    """The headers only a handshake's answer carries: the ``cookie`` setting's."""
    options = ex.context.settings.cookie_options
    if options is None:
        return []
    return [("Set-Cookie", eio.handshake_cookie(session.id, **options))]


def _poll(ex: Exchange, session: EngineSession, jsonp: Optional[str],
          extra_headers: Sequence[Tuple[str, str]] = ()) -> List[bytes]:
    items: Optional[List[Item]]
    if session.get_active:
        log.warning("session %s closed: a second GET while one is waiting", session.id)
        session.close("duplicate poll")
        raise EIOError(3, "duplicate GET")
    session.get_active = True
    watch = watch_disconnect(ex.environ, lambda: session.close("transport close"))
    try:
        if session.pending:
            items = session.take_poll(0)
        elif session.heartbeat_armed:
            # No Timeout per poll: a heartbeat wakes it (during an upgrade, after the
            # probe, the session also ends it with a NOOP at a measured pace).
            items = session.take_poll(None)
        else:
            s = ex.context.settings
            items = session.take_poll(s.ping_interval + s.ping_timeout)
    finally:
        watch.stop()
        session.get_active = False
    if items is None:
        raise EIOError(1, "session closed")
    if not items:
        items = [NOOP]
    cap = _packet_cap(ex.environ)
    if cap and len(items) > cap:
        session.push_front(items[cap:])
        items = items[:cap]
    content_type, body = _render(session, items, jsonp)
    body, coding = ex.encode(body)
    write = ex.start_response("200 OK", [("Content-Type", content_type),
                                         ("Content-Length", str(len(body))),
                                         ("Cache-Control", "no-store"), *extra_headers,
                                         *coding] + ex.cors())
    try:
        write(body)
    except socket.error:
        session.push_front(items)
        raise
    return []


#: python-engineio's client (python-socketio's) drops the connection when a poll answer
#: holds more than 16 packets (its Payload.max_decode_packets); it is recognised by the
#: HTTP libraries it polls with. Everyone else gets every queued packet in one answer.
PYTHON_CLIENT_MAX_PACKETS = 16


def _packet_cap(environ) -> int:
    agent = environ.get("HTTP_USER_AGENT", "")
    if agent.startswith("python-requests/") or " aiohttp/" in agent:
        return PYTHON_CLIENT_MAX_PACKETS
    return 0


def _render(session: EngineSession, items, jsonp) -> Tuple[str, bytes]:
    if session.eio == 4:
        return "text/plain; charset=UTF-8", polling_payload_v4(items).encode("utf-8")
    packets = [as_packet(i) for i in items]
    payload = eio.encode_payload_v3(packets, b64=session.b64)
    if jsonp is not None:
        assert isinstance(payload, str)  # JSONP is always base64 (b64)
        text = "___eio[%s](%s);" % (jsonp, script_string(payload))
        return "text/javascript; charset=UTF-8", text.encode("utf-8")
    if isinstance(payload, bytes):
        return "application/octet-stream", payload
    return "text/plain; charset=UTF-8", payload.encode("utf-8")


_JSONP_NEWLINES = re.compile(r"(\\)?\\n")


def _post(ex: Exchange, session: EngineSession, jsonp: bool) -> List[bytes]:
    if session.post_active:
        log.warning("session %s closed: a second POST while one is in progress", session.id)
        session.close("duplicate post")
        raise EIOError(3, "duplicate POST")
    session.post_active = True
    try:
        body = ex.read_body()
        ctype = ex.environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        try:
            if session.eio == 4:
                if ctype == "application/octet-stream":
                    raise eio.ProtocolError("binary POST bodies are not allowed in Engine.IO 4")
                packets = eio.decode_payload(_utf8(body))
            elif jsonp:
                text = form_field(body, ex.environ.get("CONTENT_TYPE", ""), "d")
                text = _JSONP_NEWLINES.sub(lambda m: "\\n" if m.group(1) else "\n", text)
                packets = eio.decode_payload_v3(text)
            elif ctype == "application/octet-stream":
                packets = eio.decode_payload_v3(body)
            else:
                packets = eio.decode_payload_v3(_utf8(body))
            for packet in packets:
                if session.closed:
                    break
                if packet.type == eio.CLOSE and not session.get_active:
                    # The client's GET may be in flight on another connection that the
                    # server happens to read second: give it a moment to attach, so that
                    # it is answered with the NOOP rather than 400 "Session ID unknown".
                    session.wait_for_poll(CLOSE_POLL_GRACE)
                session.receive_packet(packet)
        except eio.ProtocolError as exc:
            log.warning("session %s closed: bad payload from %s: %s", session.id,
                        ex.environ.get("REMOTE_ADDR"), exc)
            session.close("parse error")
            raise EIOError(3, "bad payload") from None
    finally:
        session.post_active = False
    return ex.respond("200 OK", b"ok", "text/html; charset=UTF-8")


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise eio.ProtocolError("body is not UTF-8", exc.start) from None


__all__ = ["EIOError", "handle", "HTTPError"]
