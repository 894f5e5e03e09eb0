"""The socket.io 0.6 session: frames in -> handler calls, handler sends -> frames out.

A 0.6 client has one connection per session (namespace '/'). The session id is the first
frame on every transport; heartbeats (``~h~N``) run on the streaming transports and a client
that stops echoing them is closed.
"""
from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import gevent

from .connection import SocketConnection
from .exceptions import ConnectionRefused, NotSupported
from .protocol import legacy as codec
from .protocol import socketio as sio
from .session import Item, Session

if TYPE_CHECKING:  # pragma: no cover
    from .request import Request
    from .router import Router

log = logging.getLogger(__name__)

STREAMING = frozenset(("websocket", "flashsocket", "xhr-multipart", "htmlfile"))


class LegacySession(Session):
    """A socket.io 0.6 client's session."""

    protocol = "socket.io-0.6"
    expires_when_detached = True

    def __init__(self, router: "Router", request: "Request", transport: str,
                 handler_class: Type[SocketConnection]) -> None:
        super().__init__(router, request, transport)
        self.connection = handler_class(self, "/")
        self._beats_sent = 0
        self._beats_missed = 0
        #: a long-poll GET is waiting on this session (only one may)
        self.polling = False
        self._refused = False

    # -- opening ------------------------------------------------------------------------

    def open(self, extra: Optional[str]) -> bool:
        """Queue the session id, then run ``on_open`` in the calling greenlet.

        Whatever on_open sends is queued after the id, so the client is told it is
        connected first. Returns False (and closes) when on_open refuses.
        """
        self.push([codec.frame(self.id)])
        conn = self.connection
        self.router.adapter.add(conn)
        try:
            accepted = call_on_open(conn, self.request, extra=extra, auth={})
        except ConnectionRefused as exc:
            log.info("session %s refused by on_open: %s", self.id, exc.message)
            accepted = False
        except Exception:
            log.exception("session %s: on_open raised; refusing the connection", self.id)
            accepted = False
        if accepted is False:
            # A refused connection never opened: on_close is not called (as for modern
            # clients refused by on_open).
            self._refused = True
            self.close("refused by on_open")
            return False
        if self.transport in STREAMING:
            self.spawn(self._heartbeats)
        return True

    # -- inbound ------------------------------------------------------------------------

    def receive_payload(self, payload: str) -> int:
        """Decode a client payload and hand every message to the handler, in order.

        Raises :class:`geventio.protocol.legacy.ProtocolError` (nothing is delivered) for
        a malformed payload. Returns the number of frames.
        """
        frames = codec.decode_payload(payload)
        for item in frames:
            if isinstance(item, codec.Heartbeat):
                if item.number <= self._beats_sent:
                    self._beats_missed = 0
            elif isinstance(item, codec.Message):
                self.run(self._deliver, item.text)
            else:
                self.run(self._deliver, item.value)
        return len(frames)

    def _deliver(self, message: Any) -> None:
        conn = self.connection
        if not conn.is_closed:
            conn.on_message(message)

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
        self.push(codec.encode_message(message))

    def send_event(self, conn: SocketConnection, event: str, args: Tuple[Any, ...],
                   callback: Optional[Callable[..., Any]] = None) -> None:
        if callback is not None:
            log.debug("session %s: a 0.6 client never acknowledges %r", self.id, event)
        self.push(self.encode_event(event, args))

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
        conn.is_closed = True
        self.router.adapter.remove(conn)
        super().close(reason)

    def on_closed(self) -> None:
        if not self._refused:
            self.connection.on_close()


# -- calling on_open with the arguments it can take ------------------------------------------

_SIGNATURES: Dict[Callable[..., Any], Tuple[bool, frozenset]] = {}


def call_on_open(conn: SocketConnection, request: "Request", **kwargs: Any) -> Any:
    """Call ``conn.on_open(request, **kwargs)``, passing only the keywords it accepts.

    ``def on_open(self, request)``, ``def on_open(self, *args, **kwargs)`` and
    ``def on_open(self, request, extra=None)`` all work.
    """
    fn = type(conn).on_open
    info = _SIGNATURES.get(fn)
    if info is None:
        params = inspect.signature(fn).parameters.values()
        var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
        names = frozenset(p.name for p in params
                          if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        info = _SIGNATURES[fn] = (var_kw, names)
    var_kw, names = info
    if not var_kw:
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    return conn.on_open(request, **kwargs)
