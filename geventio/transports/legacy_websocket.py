"""websocket (and flashsocket, the same protocol through Flash): one socket both ways.

The request greenlet reads; each batch queued in the session's outbox is sent as one
WebSocket message (a 0.6 payload may hold several frames), written directly by the pushing
greenlet when the socket takes it, else by a writer greenlet that lives while the socket
would block (:class:`~geventio.transports.outbox.OutboxWriter`). Either side
ending ends the session; frames queued before a server-side close are sent first.
"""
from __future__ import annotations

import logging
from typing import List

import gevent
from gevent.event import Event

from .. import wsio as ws_io
from ..protocol import legacy as codec
from ..sessions import TooManySessions
from . import common
from .outbox import OutboxWriter
from .http import Exchange, HTTPError

log = logging.getLogger(__name__)

CLOSE_GRACE = 2.0  # seconds a client gets to answer our close frame


def handle(ex: Exchange) -> List[bytes]:
    if ex.method != "GET":
        raise HTTPError("405 Method Not Allowed", "%s is a WebSocket endpoint" % ex.transport,
                        [("Allow", "GET")])
    if ex.sid:
        # The 0.6 client never names a session here (websocket.js prepareUrl): a socket
        # always opens a new one. An unknown id is a 404, as on every transport.
        common.find_session(ex)
        raise HTTPError("400 Bad Request", "%s connections open new sessions only"
                        % ex.transport)
    # Refuse while an HTTP answer is still possible (503; after the upgrade only a close
    # frame is): open_session below still guards the race with the handshake.
    ex.context.sessions.check_room()
    try:
        ws = ws_io.upgrade(ex.environ, ex.start_response,
                           max_message_size=ex.context.settings.max_http_buffer_size,
                           deflate=ex.context.ws_deflate)
    except ws_io.HandshakeError as exc:
        raise HTTPError(exc.status, str(exc), exc.headers) from None
    try:
        session = common.open_session(ex)
    except (HTTPError, TooManySessions) as exc:  # refused by on_open, or too many sessions
        log.info("%s refused after the upgrade: %s", ex.transport, exc)
        ws.close(1008)
        return []
    session.attach()
    reader = gevent.getcurrent()
    reader_done = Event()

    def stop_reader() -> None:
        # Give the client a moment to answer the close frame, then stop reading. (The
        # reader is the server's connection greenlet: it outlives the session, so wait for
        # the read loop to end, not for the greenlet; and leave no timer behind.)
        if not reader_done.wait(CLOSE_GRACE):
            reader.kill(block=False)

    writer = OutboxWriter(session, ws, _encode, stop_reader)
    writer.start()
    try:
        while True:
            message = ws.receive()
            if message is None:
                break
            if not isinstance(message, str):
                log.warning("session %s closed: binary WebSocket message from a 0.6 client",
                            session.id)
                ws.close(1003)
                break
            try:
                session.receive_payload(message)
            except codec.ProtocolError as exc:
                log.warning("session %s closed: malformed payload: %s", session.id, exc)
                ws.close(1002)
                break
    except gevent.GreenletExit:
        pass
    finally:
        reader_done.set()
        session.close("websocket closed")
        if gevent.getcurrent() is not writer.greenlet:
            writer.wait_done(CLOSE_GRACE)
    return []


def _encode(frames):
    return [codec.encode_payload(frames)]
