"""Connection state recovery in one process, with socket.io-client 4.8 in Node.

tests/js/modern/recovery.js connects a client, lets the server put it in a room and set its
``data``, drops its transport without disconnecting, has a second client ask the server to
emit meanwhile (to the client's room, to its id, to everyone, to a room it is not in),
reconnects it, and reports every connect and every event it saw, in order.
"""
import os

import gevent
import pytest

import geventio
from helpers import REPO_ROOT
from helpers.node import node_available, run_node
from helpers.server import make_application, serve

SCRIPT = os.path.join(REPO_ROOT, "tests", "js", "modern", "recovery.js")

pytestmark = pytest.mark.skipif(not node_available(), reason="needs node and node_modules")


def recovery_app(window):
    """A router with recovery on; its handlers record what on_open saw."""
    opened = []

    class Conn(geventio.SocketConnection):
        def on_open(self, request, auth=None, **kwargs):
            opened.append((self.session_id, self.recovered, sorted(self.rooms)))

        @geventio.event
        def setup(self, name):
            self.join("room1")
            self.data["name"] = name
            self.emit("welcome", name)
            return "ok"

        @geventio.event("emit-missed")
        def emit_missed(self, sid):
            target = self.router.connections()
            deadline = gevent.get_hub().loop.now() + 3
            while any(c.session_id == sid for c in target) and \
                    gevent.get_hub().loop.now() < deadline:
                gevent.sleep(0.02)
                target = self.router.connections()
            self.router.emit("missed", 1, to="room1")
            self.router.emit("missed", 2, to=sid)
            self.router.emit("missed-all", 3)
            self.router.emit("not-for-you", 4, to="room2")
            self.router.emit("missed", 5, to="room1", skip=self)
            return "sent"

        @geventio.event("emit-after")
        def emit_after(self):
            self.router.emit("after", 6, to="room1")
            return "sent"

        @geventio.event
        def whoami(self):
            return [self.session_id, sorted(self.rooms), self.data, self.recovered]

    router = geventio.get_router(Conn, resource="socket.io",
                                 settings={"connection_state_recovery": window})
    return router, opened


def run(variant, drop, window=30.0):
    router, opened = recovery_app(window)
    with serve(make_application([router])) as base:
        report = run_node(SCRIPT, base, variant, drop, timeout=30)
    assert "error" not in report, report
    return report, opened


def events(report, name):
    return [e for e in report["seen"] if e[0] == name]


@pytest.mark.parametrize("variant,drop", [("websocket", "engine-close"),
                                          ("websocket", "kill"),
                                          ("polling", "engine-close")])
def test_a_dropped_client_comes_back_with_its_id_rooms_data_and_missed_events(variant, drop):
    report, opened = run(variant, drop)
    sid = report["sidBefore"]
    assert report["connects"] == [{"id": sid, "recovered": False},
                                  {"id": sid, "recovered": True}]
    after_drop = report["seen"][report["seen"].index(["welcome", "ada", report["seen"][0][2]])
                                + 1:]
    names = [[e[0], e[1]] for e in after_drop]
    assert names == [["missed", 1], ["missed", 2], ["missed-all", 3], ["missed", 5],
                     ["after", 6]]
    offsets = [e[-1] for e in report["seen"]]
    assert all(isinstance(o, str) for o in offsets) and len(set(offsets)) == len(offsets)
    assert report["server"][0] == [sid, sorted([sid, "room1"]), {"name": "ada"}, True]
    recovered_open = [o for o in opened if o[1]]
    assert recovered_open == [(sid, True, sorted([sid, "room1"]))]


def test_a_client_that_disconnected_on_purpose_comes_back_as_a_new_connection():
    report, _opened = run("websocket", "disconnect")
    assert report["reason"] == "io client disconnect"
    first, second = report["connects"]
    assert second["recovered"] is False and second["id"] != first["id"]
    assert events(report, "missed") == []
    assert report["server"][0][1:] == [sorted([second["id"]]), {}, False]


def test_a_client_back_after_the_window_comes_back_as_a_new_connection():
    report, _opened = run("websocket", "wait", window=0.5)
    first, second = report["connects"]
    assert second["recovered"] is False and second["id"] != first["id"]
    assert events(report, "missed") == []


def test_with_recovery_off_nothing_carries_an_offset():
    class Conn(geventio.SocketConnection):
        @geventio.event
        def setup(self, name):
            self.emit("welcome", name)
            return "ok"

    router = geventio.get_router(Conn, resource="socket.io")
    with serve(make_application([router])) as base:
        report = run_node(SCRIPT, base, "websocket", "disconnect", timeout=30)
    assert report["seen"][0] == ["welcome", "ada"]
    assert "recovered" not in report["connects"][0]  # no pid offered: the client leaves it unset
