"""Connection state recovery in one process: the session-aware in-memory adapter (offsets,
kept packets and sessions, their bounds) and what each client generation sees on the wire."""
import logging
import os
import subprocess
import sys
import time

import pytest

import geventio
from geventio.adapters import BroadcastOptions, InMemoryAdapter
from geventio.adapters.base import SavedSession
from geventio.adapters.session_aware import SessionAwareAdapter
from geventio.protocol import socketio as sio
from geventio.sockets import SocketIOSession
from helpers import REPO_ROOT
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient


class Session:
    """Records what a connection is pushed, encoded as a Socket.IO session would."""

    encode_packets = staticmethod(SocketIOSession.encode_packets)
    pending = False

    def __init__(self):
        self.pushed = []

    def push_for(self, conn, items):
        self.pushed.extend(items)


class Conn:
    def __init__(self, sid, pid="p", namespace="/"):
        self.session_id = sid
        self.private_id = pid
        self.namespace = namespace
        self.is_closed = False
        self.session = Session()


def event(*data, ack_id=None):
    return sio.Packet(sio.EVENT, "/", list(data), ack_id)


def decoded(conn):
    return [sio.Decoder().feed(item[1:]).data for item in conn.session.pushed]


def saved(sid, rooms, pid="pid-1"):
    return SavedSession(sid, pid, [sid, *rooms], {"k": 1})


@pytest.fixture
def adapter():
    return SessionAwareAdapter(window=30.0, max_packets=100, max_sessions=3)


def joined(adapter, sid, *rooms, pid="p"):
    conn = Conn(sid, pid)
    adapter.add(conn)
    for room in rooms:
        adapter.join(conn, room)
    return conn


def test_a_broadcast_event_carries_its_offset_as_the_last_argument(adapter):
    conn = joined(adapter, "a", "r")
    adapter.broadcast("/", [event("e", 1)], BroadcastOptions(("r",)))
    (data,) = decoded(conn)
    assert data[:2] == ["e", 1] and isinstance(data[2], str)


def test_a_connection_without_a_pid_gets_the_packet_without_offset(adapter):
    conn = joined(adapter, "a", pid=None)
    adapter.broadcast("/", [event("e", 1)], BroadcastOptions())
    assert decoded(conn) == [["e", 1]]


def test_volatile_and_acknowledged_packets_carry_no_offset(adapter):
    conn = joined(adapter, "a")
    adapter.broadcast("/", [event("v")], BroadcastOptions(volatile=True))
    adapter.broadcast("/", [event("q", ack_id=3)], BroadcastOptions())
    assert decoded(conn) == [["v"], ["q"]]
    assert adapter.kept == (0, 0)


def test_restore_gives_back_the_session_and_the_packets_it_missed_in_order(adapter):
    conn = joined(adapter, "a", "r")
    adapter.broadcast("/", [event("seen")], BroadcastOptions())
    offset = decoded(conn)[0][-1]
    adapter.remove(conn)
    adapter.persist_session("/", saved("a", ["r"]))
    adapter.broadcast("/", [event("to-r", 1)], BroadcastOptions(("r",)))
    adapter.broadcast("/", [event("to-other")], BroadcastOptions(("other",)))
    adapter.broadcast("/", [event("all-but-r")], BroadcastOptions(except_rooms=("r",)))
    adapter.broadcast("/chat", [event("elsewhere")], BroadcastOptions())
    adapter.broadcast("/", [event("to-a", 2)], BroadcastOptions(("a",)))
    restored = adapter.restore_session("/", "pid-1", offset)
    assert restored.session == saved("a", ["r"])
    assert [m[:-1] for m in restored.missed] == [["to-r", 1], ["to-a", 2]]


def test_a_session_is_restored_once(adapter):
    conn = joined(adapter, "a")
    adapter.broadcast("/", [event("seen")], BroadcastOptions())
    offset = decoded(conn)[0][-1]
    adapter.persist_session("/", saved("a", []))
    assert adapter.restore_session("/", "pid-1", offset) is not None
    assert adapter.restore_session("/", "pid-1", offset) is None


def test_an_unknown_pid_or_offset_restores_nothing(adapter):
    conn = joined(adapter, "a")
    adapter.broadcast("/", [event("seen")], BroadcastOptions())
    offset = decoded(conn)[0][-1]
    adapter.persist_session("/", saved("a", []))
    assert adapter.restore_session("/", "other-pid", offset) is None
    assert adapter.restore_session("/", "pid-1", "unknown-offset") is None


def test_a_session_past_the_window_restores_nothing():
    adapter = SessionAwareAdapter(window=0.05)
    conn = joined(adapter, "a")
    adapter.broadcast("/", [event("seen")], BroadcastOptions())
    offset = decoded(conn)[0][-1]
    adapter.persist_session("/", saved("a", []))
    time.sleep(0.1)
    assert adapter.restore_session("/", "pid-1", offset) is None


def test_an_offset_trimmed_from_the_kept_packets_restores_nothing_with_a_log_line(caplog):
    adapter = SessionAwareAdapter(window=30.0, max_packets=2)
    conn = joined(adapter, "a")
    adapter.broadcast("/", [event("seen")], BroadcastOptions())
    offset = decoded(conn)[0][-1]
    adapter.persist_session("/", saved("a", []))
    for i in range(3):
        adapter.broadcast("/", [event("later", i)], BroadcastOptions())
    with caplog.at_level(logging.INFO, logger="geventio.adapters.session_aware"):
        assert adapter.restore_session("/", "pid-1", offset) is None
    assert "no longer kept" in caplog.text


def test_the_kept_packets_are_bounded_by_max_packets():
    adapter = SessionAwareAdapter(window=30.0, max_packets=5)
    joined(adapter, "a")
    for i in range(20):
        adapter.broadcast("/", [event("e", i)], BroadcastOptions())
    assert adapter.kept[0] == 5


def test_the_kept_sessions_are_bounded_by_max_sessions_dropping_the_oldest(adapter, caplog):
    with caplog.at_level(logging.WARNING, logger="geventio.adapters.session_aware"):
        for i in range(5):
            adapter.persist_session("/", saved("s%d" % i, [], pid="pid-%d" % i))
    assert adapter.kept[1] == 3
    assert "max_sessions" in caplog.text


def test_the_router_uses_the_session_aware_adapter_only_with_recovery_on():
    class Conn_(geventio.SocketConnection):
        pass

    assert type(geventio.get_router(Conn_).adapter) is InMemoryAdapter
    router = geventio.get_router(Conn_, settings={"connection_state_recovery": 5})
    assert isinstance(router.adapter, SessionAwareAdapter)


def test_recovery_must_be_a_positive_number_of_seconds():
    with pytest.raises(ValueError):
        geventio.Settings.from_mapping({"connection_state_recovery": 0})


class Greeter(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.join("r")

    @geventio.event
    def hello(self):
        self.emit("direct", 1)
        self.router.emit("room", 2, to="r")
        return "ok"


def serve_greeter():
    router = geventio.get_router(Greeter, settings={"connection_state_recovery": 30})
    return serve(make_application([router]))


def test_the_v5_connect_answer_carries_a_pid_and_events_their_offsets():
    with serve_greeter() as base, SioClient(base) as client:
        assert set(client.connect_data) == {"sid", "pid"}
        client.call("hello")
        direct, room = client.wait_for("direct")[0], client.wait_for("room")[0]
        assert direct[:2] == ["direct", 1] and isinstance(direct[2], str)
        assert room[:2] == ["room", 2] and isinstance(room[2], str)


def test_an_engine_io_v3_client_sees_no_offsets_with_recovery_on():
    with serve_greeter() as base, SioClient(base, eio=3) as client:
        client.call("hello")
        assert client.wait_for("direct") == [["direct", 1]]
        assert client.wait_for("room") == [["room", 2]]


def test_the_memory_script_prints_the_bytes_per_kept_session_and_packet():
    out = subprocess.run([sys.executable, "scripts/recovery_memory.py", "2000"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    lines = out.stdout.splitlines()
    assert lines[0].startswith("2000 sessions: ") and "per kept session" in lines[0], out
    per_session = int(lines[0].split(": ")[1].split()[0])
    assert 100 < per_session < 2000


class WithPidEvent(geventio.SocketConnection):
    """A handler class with an event named ``pid``: recovery's private id must not clash."""

    @geventio.event
    def pid(self):
        return 42


@pytest.mark.parametrize("recovery", [None, 60])
def test_a_handler_event_named_pid_does_not_clash_with_the_private_id(recovery):
    router = geventio.get_router(WithPidEvent,
                                 settings={"connection_state_recovery": recovery})
    with serve(make_application([router])) as base, SioClient(base) as client:
        assert client.call("pid") == [42]
        if recovery is None:
            assert set(client.connect_data) == {"sid"}
        else:
            assert isinstance(client.connect_data["pid"], str)
