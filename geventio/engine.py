"""The Engine.IO session (revisions 3 and 4): handshake, heartbeats, upgrade, close.

Outbound items are Engine.IO packets in their WebSocket form: a ``str`` is a whole text
packet (``'42["x"]'``, ``'2'``, ``'6'``), ``bytes`` the data of a binary MESSAGE. Transports
frame them (polling payloads, WebSocket frames) when they flush; the Socket.IO layer above
(:mod:`geventio.sockets`) encodes each packet once, so a broadcast shares the same items.

Heartbeats are gevent timers owned by the session, never a sweep over all sessions:

* v4: every ``ping_interval`` the server sends ``2``; no ``3`` within ``ping_timeout``
  closes the session.
* v3: the client pings (``2``), the server answers ``3``; no ping within
  ``ping_interval + ping_timeout`` closes the session.

The upgrade (:meth:`EngineSession.upgrade`, as engine.io's ``socket.ts`` owns it): the
WebSocket transport hands over a WebSocket opened with a polling session's sid; the session
answers ``2probe`` with ``3probe`` and waits for ``5``. Its transport state goes POLLING ->
UPGRADING -> UPGRADED (or back to POLLING if the client gives up). While UPGRADING, polls are
held as usual until the probe; then the waiting poll is answered with a NOOP, and later
polls with a NOOP at most every ``UPGRADE_NOOP_INTERVAL`` (never a busy loop).
"""
from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any, List, Optional, Protocol, Sequence, Union

import gevent
from gevent.event import Event

from .protocol import engineio as eio
from .session import Item, Session

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context
    from .request import Request

log = logging.getLogger(__name__)

PING = "2"
PONG = "3"
NOOP = "6"
CLOSE = "1"

#: seconds a client has to complete an upgrade (``2probe`` ... ``5``) on its WebSocket
UPGRADE_TIMEOUT = 10.0
#: after the probe, a poll is answered with a NOOP at most this often (node: 100 ms)
UPGRADE_NOOP_INTERVAL = 0.1


class TransportState(enum.Enum):
    """Which transport carries an Engine.IO session's packets: POLLING; UPGRADING (a
    WebSocket is being probed, polling still carries them); UPGRADED (the WebSocket, for
    good; a WebSocket-only session is UPGRADED from the start)."""

    POLLING = "polling"
    UPGRADING = "upgrading"
    UPGRADED = "upgraded"


POLLING = TransportState.POLLING
UPGRADING = TransportState.UPGRADING
UPGRADED = TransportState.UPGRADED


class UpgradeSocket(Protocol):
    """What :meth:`EngineSession.upgrade` uses of the WebSocket a transport hands over."""

    def receive(self) -> Optional[Union[str, bytes]]:
        """The next message; None once the connection is over."""

    def send(self, message: Union[str, bytes]) -> None:
        """Send one message."""

    def close(self, code: int = ..., reason: str = ...) -> None:
        """Send a close frame with ``code`` and end the connection."""


class EngineSession(Session):
    """An Engine.IO client's session; subclasses speak the protocol carried in MESSAGEs."""

    __slots__ = ("extra", "eio", "protocol", "b64", "_transport_state", "_get_waiting",
                 "post_active", "_loop", "_ping_timer", "_pong_timer", "_noop_timer")

    def __init__(self, context: "Context", request: "Request", transport: str, eio_version: int,
                 b64: bool = False, extra: Optional[str] = None) -> None:
        super().__init__(context, request, transport)
        #: what the router's ``extra_re`` matched in the URL (None without one)
        self.extra = extra
        self.eio = eio_version
        self.protocol = "engine.io-%d" % eio_version
        #: v3 client asked for base64 binary in polling payloads (``b64=1``)
        self.b64 = b64
        self._transport_state = POLLING if transport == "polling" else UPGRADED
        #: set while a polling GET waits on this session (one at a time)
        self._get_waiting = Event()
        #: a polling POST is in progress (one at a time)
        self.post_active = False
        loop = gevent.get_hub().loop
        self._loop = loop
        self._ping_timer: Optional[Any] = None  # gevent loop timers
        self._pong_timer: Optional[Any] = None
        self._noop_timer: Optional[Any] = None

    @property
    def transport_state(self) -> TransportState:
        """POLLING, UPGRADING or UPGRADED (see :class:`TransportState`)."""
        return self._transport_state

    @property
    def upgrading(self) -> bool:
        """A WebSocket is being probed for this polling session."""
        return self._transport_state is UPGRADING

    @property
    def upgraded(self) -> bool:
        """The session's packets travel over a WebSocket now."""
        return self._transport_state is UPGRADED

    @property
    def get_active(self) -> bool:
        """A polling GET is waiting on this session."""
        return self._get_waiting.is_set()

    @get_active.setter
    def get_active(self, value: bool) -> None:
        if value:
            self._get_waiting.set()
        else:
            self._get_waiting.clear()

    def wait_for_poll(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a polling GET to attach; True if one is waiting."""
        return self._get_waiting.wait(timeout)

    def end_poll(self) -> None:
        """Answer a waiting polling GET now, with what is queued or else a NOOP.

        Used when the client probes a WebSocket: nothing is pushed into the outbox, so no
        NOOP meant for the poll can be left behind and flushed over the new transport."""
        if self.get_active:
            self._out_ready.set()

    def take_poll(self, timeout: Optional[float]) -> Optional[List[Item]]:
        """What a polling GET answers with: as :meth:`take`, but nothing once the session
        is UPGRADED while the poll waited (the WebSocket gets those packets; the poll
        answers a NOOP)."""
        if not self._outbox and not self.closed:
            self._out_ready.clear()
            self._out_ready.wait(timeout)
        if self._transport_state is UPGRADED:
            return None if self.closed else []
        return self.take_nowait()

    # -- the upgrade ----------------------------------------------------------------------

    def upgrade(self, ws: UpgradeSocket, timeout: float = UPGRADE_TIMEOUT) -> bool:
        """Probe ``ws`` and move this polling session onto it; True once the client sent
        ``5``. False (``ws`` closed, the session still polling) if the session cannot be
        upgraded or the client gives up within ``timeout``."""
        if self._transport_state is not POLLING or self.closed:
            log.info("session %s: refused a second WebSocket", self.id)
            ws.close(1008)
            return False
        self._transport_state = UPGRADING
        try:
            with gevent.Timeout(timeout, False):
                message = ws.receive()
                if message == "2probe":
                    ws.send("3probe")
                    self._probed()
                    message = ws.receive()
                    while message == "2probe":  # a client may probe again
                        ws.send("3probe")
                        message = ws.receive()
                    if message == "5" and not self.closed:
                        self._transport_state = UPGRADED
                        self.transport = "websocket"
                        self.end_poll()  # a poll still waiting answers a NOOP
                        monitor = self.context.monitor
                        if monitor is not None:
                            monitor.transport_changed(self)
                        return True
            log.info("session %s: WebSocket upgrade abandoned", self.id)
            ws.close(1002)
            return False
        finally:
            self._stop_noops()
            if self._transport_state is UPGRADING:
                self._transport_state = POLLING

    def _probed(self) -> None:
        """The client probed: end the waiting poll (it answers "6", the client then sends
        5), and answer later polls with a NOOP at most every UPGRADE_NOOP_INTERVAL."""
        self.end_poll()
        if self._noop_timer is None:
            interval = UPGRADE_NOOP_INTERVAL
            self._noop_timer = self._loop.timer(interval, interval)
            self._noop_timer.start(self.end_poll)

    def _stop_noops(self) -> None:
        if self._noop_timer is not None:
            self._noop_timer.stop()
            self._noop_timer.close()
            self._noop_timer = None

    # -- opening ------------------------------------------------------------------------

    def handshake(self, upgrades: Sequence[str]) -> str:
        """The OPEN packet: ``0{"sid",...}`` with exact millisecond intervals."""
        s = self.settings
        data = eio.open_packet_data(
            self.id, upgrades, _ms(s.ping_interval), _ms(s.ping_timeout),
            s.max_http_buffer_size if self.eio == 4 else None)
        return "0" + data

    def open(self, upgrades: Sequence[str]) -> None:
        """Queue the OPEN packet and start the heartbeat timer."""
        self.push([self.handshake(upgrades)])
        self.opened()
        if self.eio == 4:
            self._ping_timer = self._loop.timer(self.settings.ping_interval)
            self._ping_timer.start(self._send_ping)
        else:
            self._pong_timer = self._loop.timer(self.settings.ping_interval
                                                + self.settings.ping_timeout)
            self._pong_timer.start(self._heartbeat_timeout)
        self.on_engine_open()

    # -- heartbeats ---------------------------------------------------------------------

    @property
    def heartbeat_armed(self) -> bool:
        """A heartbeat timer is running, so a waiting poll is woken without a timeout of its
        own: by the next ping (v4), the client's ping's pong (v3), or the close that a
        missed heartbeat causes."""
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None and timer.active:
                return True
        return False

    def _send_ping(self) -> None:
        if self.closed:
            return
        self.push([PING])
        self._pong_timer = self._loop.timer(self.settings.ping_timeout)
        self._pong_timer.start(self._heartbeat_timeout)

    def _heartbeat_timeout(self) -> None:
        # Runs in the hub: hand the close (which logs and may spawn) to a greenlet.
        gevent.spawn(self._expire_heartbeat)

    def _expire_heartbeat(self) -> None:
        if not self.closed:
            log.info("session %s closed: ping timeout", self.id)
            self.close("ping timeout")

    def _got_pong(self) -> None:
        if self._pong_timer is not None:
            self._pong_timer.stop()
            self._pong_timer = None
        if not self.closed and self._ping_timer is not None:
            self._ping_timer.stop()
            self._ping_timer = self._loop.timer(self.settings.ping_interval)
            self._ping_timer.start(self._send_ping)

    def _got_ping_v3(self, data: Optional[str]) -> None:
        self.push([PONG + (data or "")])
        if self._pong_timer is not None:
            self._pong_timer.stop()
        self._pong_timer = self._loop.timer(self.settings.ping_interval
                                            + self.settings.ping_timeout)
        self._pong_timer.start(self._heartbeat_timeout)

    # -- inbound ------------------------------------------------------------------------

    def receive_packet(self, packet: eio.Packet) -> None:
        """Handle one packet from the client. Raises ProtocolError for packets that are
        not allowed here (the caller closes the session)."""
        ptype = packet.type
        monitor = self.context.monitor
        if monitor is not None:  # every packet, heartbeats included, by its data's size
            monitor.traffic(True, 1, len(packet.data) if packet.data is not None else 0)
        if ptype == eio.MESSAGE:
            self.on_engine_message(packet.data if packet.data is not None else "")
        elif ptype == eio.PONG:
            if self.eio == 4:
                self._got_pong()
        elif ptype == eio.PING:
            if self.eio == 3:
                self._got_ping_v3(packet.data if isinstance(packet.data, str) else None)
            else:
                raise eio.ProtocolError("invalid heartbeat direction: v4 clients do not ping")
        elif ptype == eio.CLOSE:
            self.close("client close", client=True)
        elif ptype == eio.NOOP:
            pass
        else:
            raise eio.ProtocolError("unexpected %s packet" % ptype.name)

    #: True when :meth:`on_engine_message` never blocks as long as :meth:`can_run_now`
    #: (it only decodes, queues frames and queues jobs with :meth:`run`). The messages of
    #: a WebSocket are then handled in the event loop, with no greenlet; otherwise each
    #: one is handled in a greenlet of its own while reading pauses.
    messages_never_block = False

    def receive_would_block(self) -> bool:
        """Whether :meth:`receive_packet` might block now (see ``messages_never_block``)."""
        return not (self.messages_never_block and self.can_run_now())

    # -- the extension hook: the protocol carried in MESSAGEs ----------------------------
    #
    # ``Router.engine_session_class`` names the session class for Engine.IO clients. The
    # default, :class:`geventio.sockets.SocketIOSession`, runs Socket.IO here; a subclass
    # of EngineSession that overrides these two methods serves raw Engine.IO instead (as
    # scripts/conformance_server.py does). Both run where the packet was read, maybe in
    # the event loop: they must not block unless ``messages_never_block`` is False (the
    # default), and they answer with :meth:`push` (a ``str`` is a whole text packet, e.g.
    # ``"4" + text`` for a MESSAGE; ``bytes`` the data of a binary MESSAGE).

    def on_engine_open(self) -> None:
        """The OPEN packet is queued; the session is open."""

    def on_engine_message(self, data: Union[str, bytes]) -> None:
        """A MESSAGE packet's data arrived: ``str`` for text, ``bytes`` for binary."""

    # -- closing ------------------------------------------------------------------------

    def close(self, reason: str = "server close", client: bool = False) -> None:
        """End the session. A polling client waiting on a GET is told: ``1`` when the
        server closes, ``6`` when the client asked to close."""
        if self.closed:
            return
        if self._transport_state is not UPGRADED:
            if client:
                if self.get_active:
                    self.push([NOOP])
            else:
                self.push([CLOSE])
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.stop()
        self._ping_timer = self._pong_timer = None
        self._stop_noops()
        super().close(reason)


def _ms(seconds: float) -> int:
    """Seconds as whole milliseconds (0.3 s -> 300, never truncated to whole seconds)."""
    return int(round(seconds * 1000))


def polling_payload_v4(items: List[Item]) -> str:
    """A v4 polling body: text packets as they are, binary as ``b`` + base64, joined by RS."""
    if all(isinstance(i, str) for i in items):
        return eio.SEPARATOR.join(items)  # type: ignore[arg-type]
    return eio.encode_payload([as_packet(i) for i in items])


def as_packet(item: Item) -> eio.Packet:
    """An outbound item as an Engine.IO Packet."""
    if isinstance(item, bytes):
        return eio.Packet(eio.MESSAGE, item)
    return eio.Packet(eio.PacketType(int(item[0])), item[1:] or None)
