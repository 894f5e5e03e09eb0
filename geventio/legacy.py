"""The socket.io 0.6 session: frames in -> handler calls, handler sends -> frames out.

A 0.6 client has one connection per session (namespace '/'). The session id is the first
frame on every transport; heartbeats (``~h~N``) run on the streaming transports and a client
that stops echoing them is closed.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple, Type

import gevent

from .connection import (CLOSED, OPEN, SocketConnection, call_on_open, in_handler_context,
                         report_error)
from .exceptions import ConnectionRefused, NotSupported
from .hooks import run_middlewares
from .protocol import legacy as codec
from .protocol import socketio as sio
from .session import Item, Session

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context
    from .request import Request

log = logging.getLogger(__name__)

STREAMING = frozenset(("websocket", "flashsocket", "xhr-multipart", "htmlfile"))


class LegacySession(Session):
    """A socket.io 0.6 client's session."""

    protocol = "socket.io-0.6"
    expires_when_detached = True

    def __init__(self, context: "Context", request: "Request", transport: str,
                 handler_class: Type[SocketConnection]) -> None:
        super().__init__(context, request, transport)
        self.connection = handler_class(self, "/")
        self._beats_sent = 0
        self._beats_missed = 0
        #: a long-poll GET is waiting on this session (only one may)
        self.polling = False
        #: on_close is due when the worker ends (the connection was not refused)
        self._close_due = False

    # -- opening ------------------------------------------------------------------------

    def open(self, extra: Optional[str]) -> bool:
        """Queue the session id, then run ``on_open`` in the calling greenlet.

        Whatever on_open sends is queued after the id, so the client is told it is
        connected first. Returns False (and closes) when on_open refuses.
        """
        self.push([codec.frame(self.id)])
        conn = self.connection
        self.context.adapter.add(conn)
        try:
            accepted = in_handler_context(conn, self._accept, conn, extra)
        except ConnectionRefused as exc:
            log.info("session %s refused: %s", self.id, exc.message)
            accepted = False
        except Exception:
            log.exception("session %s: on_open raised; refusing the connection", self.id)
            accepted = False
        if accepted is False:
            # A refused connection never opened: on_close is not called (as for modern
            # clients refused by on_open).
            conn.state = CLOSED
            self.close("refused by on_open")
            return False
        if conn.state is not CLOSED:
            conn.state = OPEN
            self.opened()
            monitor = self.context.monitor
            if monitor is not None:
                monitor.connected(conn)
        if self.transport in STREAMING:
            self.spawn(self._heartbeats)
        return True

    def _accept(self, conn: SocketConnection, extra: Optional[str]) -> Any:
        """Run the middlewares (raising their refusal), then ``on_open``."""
        refusal = run_middlewares(self.context.middlewares, conn, self.request, {})
        if refusal is not None:
            raise refusal
        return call_on_open(conn, self.request, extra=extra, auth={})

    # -- inbound ------------------------------------------------------------------------

    def receive_payload(self, payload: str) -> int:
        """Decode a client payload and hand every message to the handler, in order.

        Raises :class:`geventio.protocol.legacy.ProtocolError` (nothing is delivered) for
        a malformed payload. Returns the number of frames.
        """
        frames = codec.decode_payload(payload)
        deliver = (self._deliver if self.connection.handler_context is None
                   else self._deliver_within)
        monitor = self.context.monitor
        if monitor is not None:
            monitor.traffic(True, len(frames), len(payload))
        for item in frames:
            if isinstance(item, codec.Heartbeat):
                if item.number <= self._beats_sent:
                    self._beats_missed = 0
            elif isinstance(item, codec.Message):
                self.run(deliver, item.text)
            else:
                self.run(deliver, item.value)
        return len(frames)

    def _deliver_within(self, message: Any) -> None:
        """``_deliver`` inside the connection's ``handler_context``."""
        if not self.connection.is_closed:
            in_handler_context(self.connection, self._deliver, message)

    def _deliver(self, message: Any) -> None:
        conn = self.connection
        if not conn.is_closed:
            monitor = self.context.monitor
            if monitor is not None:
                monitor.event_received(conn, ["message", message])
            try:
                conn.on_message(message)
            except Exception as exc:
                report_error(conn, exc, "message", (message,))

    # -- outbound (called by SocketConnection and the router) ---------------------------

    @staticmethod
    def encode_packets(packets: Sequence[sio.Packet]) -> List[Item]:
        """Socket.IO EVENTs as 0.6 frames: ``["message", m]`` is the message ``m``, any
        other event the JSON message ``{"name": event, "args": [...]}``."""
        frames: List[Item] = []
        for packet in packets:
            data = packet.data
            if len(data) == 2 and data[0] == "message":
                frames.extend(codec.encode_message(data[1]))
            else:
                frames.append(codec.encode_json({"name": data[0], "args": data[1:]}))
        return frames

    @staticmethod
    def encode_event(event: str, args: Tuple[Any, ...], namespace: str = "/") -> List[str]:
        return [codec.encode_json({"name": event, "args": list(args)})]

    def push_for(self, conn: SocketConnection, items: List[str]) -> None:
        self.push(items)

    def send_message(self, conn: SocketConnection, message: Any) -> None:
        monitor = self.context.monitor
        if monitor is not None:
            for m in (message if isinstance(message, (list, tuple)) else [message]):
                monitor.event_sent(conn, ["message", m])
        self.push(codec.encode_message(message))

    def send_event(self, conn: SocketConnection, event: str, args: Tuple[Any, ...],
                   callback: Optional[Callable[..., Any]] = None) -> None:
        if callback is not None:
            log.debug("session %s: a 0.6 client never acknowledges %r", self.id, event)
        monitor = self.context.monitor
        if monitor is not None:
            monitor.event_sent(conn, [event, *args])
        self.push(self.encode_event(event, args))

    def connection_id(self, namespace: str) -> Optional[str]:
        return None  # a 0.6 connection's id is the session id

    def check_acks_supported(self) -> None:
        raise NotSupported("socket.io 0.6 clients cannot acknowledge events")

    def close_connection(self, conn: SocketConnection) -> None:
        self.close("closed by the server")

    # -- heartbeats ---------------------------------------------------------------------

    def _heartbeats(self) -> None:
        interval = self.settings.heartbeat_interval
        limit = self.settings.max_missed_heartbeats
        while not self.closed:
            gevent.sleep(interval)
            if self._beats_missed >= limit:
                log.info("session %s closed: %d heartbeats unanswered", self.id,
                         self._beats_missed)
                self.close("heartbeat timeout")
                return
            self._beats_sent += 1
            self._beats_missed += 1
            self.push([codec.encode_heartbeat(self._beats_sent)])

    # -- closing ------------------------------------------------------------------------

    def close(self, reason: str = "server close") -> None:
        if self.closed:
            return
        conn = self.connection
        self._close_due = conn.state is not CLOSED
        conn.state = CLOSED
        self.context.adapter.remove(conn)
        monitor = self.context.monitor
        if monitor is not None and self._close_due:
            monitor.disconnected(conn, reason)
        super().close(reason)

    def on_closed(self) -> None:
        if self._close_due:
            in_handler_context(self.connection, self.connection.on_close)
