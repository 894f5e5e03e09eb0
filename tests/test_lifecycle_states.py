"""Lifecycle states, declared as enums: a session's (opening -> open -> closing -> closed),
a connection's (opening -> open -> closed) and an Engine.IO session's transport
(polling -> upgrading -> upgraded)."""
import gevent

import geventio
from geventio.connection import ConnectionState
from geventio.engine import EngineSession, TransportState
from geventio.legacy import LegacySession
from geventio.protocol import engineio as eio
from geventio.request import Request
from geventio.session import SessionState
from geventio.sockets import SocketIOSession

from helpers.eio_client import wait_until

ENVIRON = {"REQUEST_METHOD": "GET", "PATH_INFO": "/socket.io/", "QUERY_STRING": "",
           "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "SERVER_NAME": "test",
           "SERVER_PORT": "80"}


class Recording(geventio.SocketConnection):
    seen = None  # a list the test provides
    refuse = False

    def on_open(self, request, *args, **kwargs):
        self.seen.append(("on_open", self.state, self.is_closed))
        return False if self.refuse else None

    def on_close(self):
        self.seen.append(("on_close", self.state))


def handler(refuse=False):
    return type("Handler", (Recording,), {"seen": [], "refuse": refuse})


def legacy_session(cls):
    router = geventio.get_router(cls)
    ctx = router.context
    return ctx.sessions.create(LegacySession, ctx, Request(ENVIRON), "xhr-polling", cls)


def engine_session(session_class=SocketIOSession, transport="polling", handler_class=None):
    router = geventio.get_router(handler_class or handler())
    ctx = router.context
    return ctx.sessions.create(session_class, ctx, Request(ENVIRON), transport, 4, False, None)


# --------------------------------------------------------------------------- sessions

def test_a_new_session_is_opening_until_its_handshake_is_queued():
    session = engine_session()
    assert session.state is SessionState.OPENING and not session.closed
    session.open(["websocket"])
    assert session.state is SessionState.OPEN
    session.close()


def test_a_closed_session_is_closing_until_its_worker_has_run_on_close_then_closed():
    session = engine_session()
    session.open([])
    session.close()
    assert session.state is SessionState.CLOSING and session.closed
    wait_until(lambda: session.state is SessionState.CLOSED)
    assert session.closed


def test_a_06_session_opens_when_on_open_accepts():
    cls = handler()
    session = legacy_session(cls)
    assert session.open(None) is True
    assert session.state is SessionState.OPEN
    assert session.connection.state is ConnectionState.OPEN
    session.close()


# --------------------------------------------------------------------------- connections

def test_a_connection_is_opening_while_on_open_runs_then_open():
    cls = handler()
    session = legacy_session(cls)
    session.open(None)
    assert cls.seen == [("on_open", ConnectionState.OPENING, False)]
    assert session.connection.state is ConnectionState.OPEN
    session.close()


def test_a_closed_connection_is_closed_and_its_on_close_runs_once():
    cls = handler()
    session = legacy_session(cls)
    session.open(None)
    conn = session.connection
    conn.close()
    assert conn.state is ConnectionState.CLOSED and conn.is_closed
    wait_until(lambda: session.state is SessionState.CLOSED)
    assert cls.seen[1:] == [("on_close", ConnectionState.CLOSED)]


def test_a_refused_connection_is_closed_without_ever_being_open_and_on_close_never_runs():
    cls = handler(refuse=True)
    session = legacy_session(cls)
    assert session.open(None) is False
    assert session.connection.state is ConnectionState.CLOSED and session.closed
    wait_until(lambda: session.state is SessionState.CLOSED)
    gevent.sleep(0.01)
    assert [e[0] for e in cls.seen] == ["on_open"]


def test_a_modern_connection_is_open_once_its_connect_answer_is_queued():
    session = engine_session()
    session.open([])
    session.on_engine_message("0")  # CONNECT to "/"
    conn = session.connections["/"]
    wait_until(lambda: conn.state is ConnectionState.OPEN)
    assert any(i.startswith("40{") for i in session.take_nowait())
    session.close()
    assert conn.state is ConnectionState.CLOSED


# --------------------------------------------------------------------------- Engine.IO transport

class FakeWebSocket:
    """Messages to hand out, what was sent, the close code; ``on_receive`` observes."""

    def __init__(self, messages, on_receive=None):
        self.messages = list(messages)
        self.sent = []
        self.closed_with = None
        self.on_receive = on_receive

    def receive(self):
        if self.on_receive:
            self.on_receive()
        if not self.messages:
            gevent.sleep(60)  # a client that sends nothing more
        return self.messages.pop(0)

    def send(self, message):
        self.sent.append(message)

    def close(self, code=1000, reason=""):
        self.closed_with = code


def test_a_polling_session_starts_polling_and_a_websocket_only_one_upgraded():
    assert engine_session(transport="polling").transport_state is TransportState.POLLING
    assert engine_session(transport="websocket").transport_state is TransportState.UPGRADED


def test_an_upgrade_goes_from_polling_through_upgrading_to_upgraded():
    session = engine_session()
    session.open(["websocket"])
    states = []
    ws = FakeWebSocket(["2probe", "5"], lambda: states.append(session.transport_state))
    assert session.upgrade(ws) is True
    assert states == [TransportState.UPGRADING, TransportState.UPGRADING]
    assert ws.sent == ["3probe"] and ws.closed_with is None
    assert session.transport_state is TransportState.UPGRADED and session.upgraded
    assert session.transport == "websocket"
    session.close()


def test_an_abandoned_upgrade_goes_back_to_polling_and_closes_the_websocket():
    session = engine_session()
    session.open(["websocket"])
    ws = FakeWebSocket(["2probe"])  # never "5"
    assert session.upgrade(ws, timeout=0.2) is False
    assert session.transport_state is TransportState.POLLING and not session.upgrading
    assert ws.closed_with == 1002 and session.transport == "polling"
    session.close()


def test_a_second_websocket_for_an_upgraded_session_is_refused_with_1008():
    session = engine_session()
    session.open(["websocket"])
    assert session.upgrade(FakeWebSocket(["2probe", "5"])) is True
    second = FakeWebSocket(["2probe", "5"])
    assert session.upgrade(second) is False and second.closed_with == 1008
    session.close()


def test_the_raw_engine_session_hook_receives_messages():
    got = []

    class Echo(EngineSession):
        def on_engine_message(self, data):
            got.append(data)

    session = engine_session(Echo)
    session.open([])
    session.receive_packet(eio.Packet(eio.MESSAGE, "hi"))
    session.receive_packet(eio.Packet(eio.MESSAGE, b"\x01"))
    assert got == ["hi", b"\x01"]
    session.close()
