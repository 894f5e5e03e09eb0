"""What every socket.io 0.6 HTTP transport shares: finding or opening the session, the
long-poll, the stream loop and the POST that carries client messages.

The method decides (as in the 0.6 reference server): GET receives, POST sends; the
``/send``, timestamp and JSONP index segments of the URL are not routed on.
"""
from __future__ import annotations

import logging
import socket
from typing import Callable, Iterator, List, Tuple, cast

from ..legacy import LegacySession
from ..protocol import legacy as codec
from ..request import Request
from ..session import Item
from .http import Exchange, HTTPError, form_field, watch_disconnect

log = logging.getLogger(__name__)

#: renders a payload (frames joined) into (content type, body) for a poll response
Render = Callable[[str], Tuple[str, bytes]]


def open_session(ex: Exchange) -> LegacySession:
    """Create a session for this request and run on_open; 403 if it refuses."""
    ctx = ex.context
    session = ctx.sessions.create(LegacySession, ctx, Request(ex.environ), ex.transport,
                                  ctx.handler)
    if not session.open(ex.extra):
        raise HTTPError("403 Forbidden", "connection refused")
    return session


def find_session(ex: Exchange) -> LegacySession:
    """The live session named in the URL; 404 when unknown or closed."""
    session = ex.context.sessions.get(ex.sid)
    if session is None or not isinstance(session, LegacySession):
        raise HTTPError("404 Not Found", "unknown or expired session id")
    if session.transport != ex.transport:
        raise HTTPError("400 Bad Request", "session %s uses %s, not %s"
                        % (ex.sid, session.transport, ex.transport))
    return session


def long_poll(ex: Exchange, render: Render) -> List[bytes]:
    """GET on a polling transport: answer at once if frames wait, else hold the request
    up to ``xhr_polling_timeout`` and answer with an empty payload."""
    if ex.sid:
        session = find_session(ex)
    else:
        session = open_session(ex)
    if session.polling:
        raise HTTPError("409 Conflict", "another poll is already waiting on this session")
    session.polling = True
    session.attach()
    gone: List[bool] = []

    def hung_up() -> None:
        gone.append(True)
        session.interrupt()
    watch = watch_disconnect(ex.environ, hung_up)
    try:
        frames = session.take(0 if session.pending else ex.context.settings.xhr_polling_timeout)
    finally:
        watch.stop()
        session.polling = False
        session.detach()
    if frames is None:
        raise HTTPError("404 Not Found", "session closed")
    if gone:
        # The client dropped this poll (a 0.6 client does when its own timeout fires, then
        # polls again): keep the frames for the next poll instead of writing them into a
        # closed socket.
        session.push_front(frames)
        frames = []
    content_type, body = render(codec.encode_payload(_texts(frames)))
    body, coding = ex.encode(body)
    write = ex.start_response("200 OK", [
        ("Content-Type", content_type), ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store, no-cache, must-revalidate"), *coding] + ex.cors())
    try:
        write(body)
    except socket.error:
        # The client went away mid-response: these frames were never delivered.
        session.push_front(frames)
        raise
    return []


def stream(ex: Exchange, content_type: str, preamble: bytes,
           render: Callable[[str], bytes]) -> Iterator[bytes]:
    """GET on a streaming transport: one long response carrying every payload as it comes.

    The stream ending, from either side, ends the session.
    """
    if ex.sid:
        find_session(ex)  # an unknown session is a 404, as on every other transport
        raise HTTPError("400 Bad Request", "%s streams open new sessions only" % ex.transport)
    session = open_session(ex)
    session.attach()
    ex.start_response("200 OK", [("Content-Type", content_type),
                                 ("Cache-Control", "no-store, no-cache, must-revalidate")]
                      + ex.cors())
    return _stream_body(session, preamble, render)


def _stream_body(session: LegacySession, preamble: bytes,
                 render: Callable[[str], bytes]) -> Iterator[bytes]:
    try:
        first = True
        while True:
            frames = session.take(None)
            if frames is None:
                return
            if not frames:
                continue
            chunk = render(codec.encode_payload(_texts(frames)))
            if first:
                chunk = preamble + chunk
                first = False
            yield chunk
    finally:
        session.close("stream ended")


def post(ex: Exchange, *, form_crlf: bool = False) -> List[bytes]:
    """POST: client messages, in a form field ``data``. Answers ``ok``.

    ``form_crlf``: the body came from an HTML form (jsonp-polling), which turns every line
    break into CR LF; they are turned back into LF so the frame lengths add up.
    A malformed payload gets 400 and ends the session (the 0.6 client treats any
    non-200 answer to a POST as a disconnect anyway).
    """
    session = find_session(ex)
    body = ex.read_body()
    payload = form_field(body, ex.environ.get("CONTENT_TYPE", ""))
    if form_crlf and "\r" in payload:
        payload = payload.replace("\r\n", "\n")
    try:
        session.receive_payload(payload)
    except codec.ProtocolError as exc:
        log.warning("session %s closed: malformed payload from %s: %s", session.id,
                    ex.environ.get("REMOTE_ADDR"), exc)
        session.close("malformed payload")
        raise HTTPError("400 Bad Request", "malformed payload: %s" % exc) from None
    return ex.respond("200 OK", b"ok", "text/plain; charset=UTF-8")


def _texts(frames: List[Item]) -> List[str]:
    """A 0.6 session's frames: always text (the outbox type allows bytes for Engine.IO)."""
    return cast(List[str], frames)
