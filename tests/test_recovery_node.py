"""Connection state recovery in one process, with socket.io-client 4.8 in Node and in
Chromium.

tests/js/modern/recovery.js connects a client, lets the server put it in a room and set its
``data``, drops its transport without disconnecting, has a second client ask the server to
emit meanwhile (to the client's room, to its id, to everyone, to a room it is not in),
reconnects it, and reports every connect and every event it saw, in order.
"""
import os

import pytest

import geventio
from apps import recovery_member
from helpers import REPO_ROOT
from helpers.browser import run_pages
from helpers.node import node_available, run_node
from helpers.server import make_application, serve
from helpers.static import static_app

SCRIPT = os.path.join(REPO_ROOT, "tests", "js", "modern", "recovery.js")

pytestmark = pytest.mark.skipif(not node_available(), reason="needs node and node_modules")


def run(variant, drop, window=30.0):
    del recovery_member.opened[:]
    router = recovery_member.make_router(window=window)
    opened = recovery_member.opened
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


@pytest.mark.browser
def test_in_chromium_a_dropped_client_comes_back_with_its_id_rooms_data_and_missed_events():
    del recovery_member.opened[:]
    router = recovery_member.make_router()
    page = open(os.path.join(REPO_ROOT, "tests", "pages", "recovery.html"),
                encoding="utf-8").read()
    app = make_application([router.route()],
                           fallback=static_app({"/": ("text/html; charset=utf-8", page)}))
    with serve(app) as base:
        run = run_pages(base + "/", pages=1, timeout=20)
    result = run["pages"][0]["result"] or {}
    assert "error" not in result, run
    sid = result["sidBefore"]
    assert result["connects"] == [{"id": sid, "recovered": False},
                                  {"id": sid, "recovered": True}]
    assert [e[:2] for e in result["seen"][1:]] == [["missed", 1], ["missed", 2],
                                                   ["missed-all", 3], ["missed", 5],
                                                   ["after", 6]]
    assert result["server"] == [sid, sorted([sid, "room1"]), {"name": "ada"}, True]
