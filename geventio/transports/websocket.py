"""websocket (and flashsocket, the same protocol through Flash): one socket both ways.

The request greenlet reads; a writer greenlet drains the session's outbox and sends each
batch as one WebSocket message (a 0.6 payload may hold several frames). Either side
ending ends the session; frames queued before a server-side close are sent first.
"""
from __future__ import annotations

import logging
from typing import List

import gevent

from .. import websocket as ws_io
from ..protocol import legacy as codec
from . import common
from .http import Exchange, HTTPError

log = logging.getLogger(__name__)

CLOSE_GRACE = 2.0  # seconds a client gets to answer our close frame


def handle(ex: Exchange) -> List[bytes]:
    if ex.method != "GET":
        raise HTTPError("405 Method Not Allowed", "%s is a WebSocket endpoint" % ex.transport,
                        [("Allow", "GET")])
    try:
        ws = ws_io.upgrade(ex.environ, ex.start_response,
                           max_message_size=ex.router.settings.max_http_buffer_size)
    except ws_io.HandshakeError as exc:
        raise HTTPError(exc.status, str(exc), exc.headers) from None
    try:
        session = common.open_session(ex)
    except HTTPError as exc:  # refused by on_open, or too many sessions
        log.info("%s refused after the upgrade: %s", ex.transport, exc.message)
        ws.close(1008)
        return []
    session.attach()
    reader = gevent.getcurrent()
    writer = gevent.spawn(_write, session, ws, reader)
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
        session.close("websocket closed")
        if gevent.getcurrent() is not writer:
            writer.join(CLOSE_GRACE)
            writer.kill(block=False)
    return []


def _write(session, ws, reader) -> None:
    try:
        while True:
            frames = session.take(None)
            if frames is None:
                break
            if frames:
                ws.send(codec.encode_payload(frames))
    except Exception as exc:  # the peer is gone; the reader will notice too
        log.debug("session %s: websocket write failed: %s", session.id, exc)
    finally:
        ws.close()
        if not reader.dead:
            # give the client a moment to answer the close frame, then stop reading
            gevent.sleep(0)
            if not reader.dead and not reader.ready():
                gevent.spawn_later(CLOSE_GRACE, _stop_reader, reader)


def _stop_reader(reader) -> None:
    if not reader.dead:
        reader.kill(block=False)
