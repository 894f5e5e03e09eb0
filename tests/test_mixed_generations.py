"""socket.io 0.6 and today's clients in one room of one router.

The same Lobby handler serves every generation. Messages fan out per generation:
``router.send`` reaches a 0.6 client as a plain message and a modern client as a 'message'
event; ``router.emit`` reaches a modern client as the event and a 0.6 client (which has no
events) as the JSON message ``{"name": event, "args": [...]}``.

Two scenarios:

* the 0.6 wire protocol over xhr-polling (spoken here, frame by frame) with
  socket.io-client 4.x and 2.x in Node;
* the real 0.6 browser client and socket.io-client 4.x, each in its own Chromium page.
"""
import json
import os
import re
import time

import gevent
import pytest

import geventio
from helpers import REPO_ROOT
from helpers.browser import run_pages
from helpers.node import node_available, run_node
from helpers.server import make_application, serve
from helpers.static import static_app
from helpers.wire import post, request

MIXED = os.path.join(REPO_ROOT, "tests", "js", "modern", "mixed.js")
PAGE = os.path.join(REPO_ROOT, "tests", "pages", "mixed_generations.html")
# Default Engine.IO heartbeats (they are not what this module is about); short 0.6 polls.
SETTINGS = {"xhr_polling_timeout": 1.0, "session_expiry": 2.0, "session_check_interval": 0.5}

needs_node = pytest.mark.skipif(not node_available() and not os.environ.get("CI"),
                                reason="needs node and node_modules (npm ci)")


def make_lobby(record, participants):
    """Everyone joins 'lobby'; when `participants` are in, everyone is told 'go'."""

    class Lobby(geventio.SocketConnection):
        def on_open(self, request, *args, **kwargs):
            self.join("lobby")
            record["opened"].append(self.session.protocol)
            if len(self.router.connections("lobby")) == participants:
                self.router.emit("go", to="lobby")

        def on_message(self, message):
            record["messages"].append((self.session.protocol, message))
            if isinstance(message, dict) and "say" in message:  # 0.6: events as JSON
                self.router.emit("said", *message["say"], to="lobby", skip=self)
            elif message == "call me":
                try:
                    self.call("anything", timeout=1)
                except geventio.NotSupported:
                    self.send("call: NotSupported")
            else:
                self.router.send(message, to="lobby", skip=self)

        @geventio.event
        def say(self, name, text):
            self.router.emit("said", name, text, to="lobby", skip=self)

        def on_close(self):
            record["closed"].append(self.session.protocol)

    return Lobby


# -- the 0.6 wire protocol, as the 0.6 client's xhr-polling transport speaks it ----------------

_FRAME = re.compile(r"~m~(\d+)~m~")


def decode06(payload):
    """A 0.6 payload -> its messages: text as str, ~j~ as decoded JSON, ~h~ as ('h', n)."""
    out, i = [], 0
    while i < len(payload):
        m = _FRAME.match(payload, i)
        assert m, "not a 0.6 frame at %d: %r" % (i, payload[i:i + 40])
        start, units = m.end(), int(m.group(1))
        end = start
        while units > 0:  # the length counts UTF-16 code units
            units -= 2 if ord(payload[end]) > 0xFFFF else 1
            end += 1
        data = payload[start:end]
        if data.startswith("~j~"):
            out.append(json.loads(data[3:]))
        elif data.startswith("~h~"):
            out.append(("h", int(data[3:])))
        else:
            out.append(data)
        i = end
    return out


def encode06(*messages):
    frames = []
    for m in messages:
        data = m if isinstance(m, str) else "~j~" + json.dumps(m)
        frames.append("~m~%d~m~%s" % (len(data.encode("utf-16-le")) // 2, data))
    return "".join(frames)


class Client06:
    """A socket.io 0.6 client on xhr-polling: GET long-polls, POST sends."""

    def __init__(self, base):
        self.base = base
        status, _, body = request(base, "GET", "/socket.io/xhr-polling//%d" % _now_ms())
        assert status == 200, (status, body)
        first = decode06(body.decode("utf-8"))
        self.sid = first[0]
        self.received = first[1:]
        self._poller = gevent.spawn(self._poll)

    def _poll(self):
        while True:
            status, _, body = request(self.base, "GET", "/socket.io/xhr-polling/%s/%d"
                                      % (self.sid, _now_ms()), timeout=5)
            if status != 200:
                return
            self.received.extend(decode06(body.decode("utf-8")))

    def send(self, *messages):
        status, _, body = post(self.base, "/socket.io/xhr-polling/%s/send" % self.sid,
                               encode06(*messages))
        assert status == 200, (status, body)

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            assert time.monotonic() < deadline, "0.6 client got only %r" % (self.received,)
            gevent.sleep(0.02)

    def stop(self):
        self._poller.kill()


def _now_ms():
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def wire_room():
    """A 0.6 xhr-polling client, socket.io-client 4.x and 2.x (Node) in one room."""
    record = {"opened": [], "messages": [], "closed": []}
    router = geventio.get_router(make_lobby(record, participants=3), SETTINGS)
    with serve(make_application([router.route()])) as base:
        old = Client06(base)
        modern = {v: gevent.spawn(run_node, MIXED, base, v, v, 2, timeout=30)
                  for v in ("v4", "v2")}
        try:
            old.wait_for(lambda got: {"name": "go", "args": []} in got)
            old.send("from 0.6", {"say": ["0.6", "0.6 says hi"]}, "call me")
            reports = {v: g.get(timeout=40) for v, g in modern.items()}
            old.wait_for(lambda got: len(got) >= 6)  # go, 2 messages, 2 said, call answer
            gevent.sleep(0.3)  # anything unexpected would arrive now
        finally:
            old.stop()
        yield {"old": old.received, "v4": reports["v4"], "v2": reports["v2"],
               "record": record}


def modern_report(room, version):
    report = room[version]
    assert "fatal" not in report and "error" not in report, report
    return report


@needs_node
def test_everyone_is_told_to_go_in_their_own_generations_form(wire_room):
    assert wire_room["old"][0] == {"name": "go", "args": []}
    assert modern_report(wire_room, "v4")["go"] == 1
    assert modern_report(wire_room, "v2")["go"] == 1


@needs_node
def test_a_0_6_message_reaches_modern_clients_as_a_message_event(wire_room):
    assert "from 0.6" in modern_report(wire_room, "v4")["messages"]
    assert "from 0.6" in modern_report(wire_room, "v2")["messages"]


@needs_node
def test_a_modern_message_reaches_the_0_6_client_as_plain_text(wire_room):
    assert "from v4" in wire_room["old"]
    assert "from v2" in wire_room["old"]


@needs_node
def test_a_room_event_reaches_the_0_6_client_as_name_and_args(wire_room):
    said = [m for m in wire_room["old"] if isinstance(m, dict) and m.get("name") == "said"]
    assert sorted(said, key=json.dumps) == [{"name": "said", "args": ["v2", "v2 says hi"]},
                                            {"name": "said", "args": ["v4", "v4 says hi"]}]


@needs_node
def test_a_room_event_from_the_0_6_side_reaches_modern_clients_as_an_event(wire_room):
    assert ["0.6", "0.6 says hi"] in modern_report(wire_room, "v4")["said"]
    assert ["0.6", "0.6 says hi"] in modern_report(wire_room, "v2")["said"]


@needs_node
def test_each_client_gets_exactly_the_others_messages_and_never_its_own(wire_room):
    v4, v2 = modern_report(wire_room, "v4"), modern_report(wire_room, "v2")
    assert sorted(v4["messages"]) == ["from 0.6", "from v2"]
    assert sorted(v2["messages"]) == ["from 0.6", "from v4"]
    assert sorted(v4["said"]) == [["0.6", "0.6 says hi"], ["v2", "v2 says hi"]]
    assert sorted(v2["said"]) == [["0.6", "0.6 says hi"], ["v4", "v4 says hi"]]
    old_text = sorted(m for m in wire_room["old"] if isinstance(m, str))
    assert old_text == ["call: NotSupported", "from v2", "from v4"]


@needs_node
def test_call_on_a_0_6_connection_raises_not_supported(wire_room):
    assert "call: NotSupported" in wire_room["old"]


@needs_node
def test_the_server_saw_each_generation(wire_room):
    assert sorted(wire_room["record"]["opened"]) == ["engine.io-3", "engine.io-4",
                                                     "socket.io-0.6"]


# -- the real 0.6 browser client and socket.io-client 4.x in Chromium ---------------------------

@pytest.fixture(scope="module")
def browser_room():
    record = {"opened": [], "messages": [], "closed": []}
    router = geventio.get_router(make_lobby(record, participants=2), SETTINGS)
    page = open(PAGE, encoding="utf-8").read()
    app = make_application([router.route()],
                           fallback=static_app({"/": ("text/html; charset=utf-8", page)}))
    with serve(app) as base:
        run = run_pages(base + "/", pages=2, timeout=20)
        yield run, record


@pytest.mark.browser
def test_in_chromium_the_0_6_client_and_a_4x_client_hear_each_other(browser_room):
    run, record = browser_room
    old, new = (p["result"] or {} for p in run["pages"])
    assert not run["timedOut"], run
    assert old.get("generation") == "0.6" and new.get("generation") == "4.x", run
    assert sorted(old["messages"], key=json.dumps) == [
        "from 4.x", {"name": "said", "args": ["4.x", "4.x says hi"]}]
    assert new["messages"] == ["from 0.6"]
    assert new["said"] == [["0.6", "0.6 says hi"]]
    assert sorted(record["opened"]) == ["engine.io-4", "socket.io-0.6"]
