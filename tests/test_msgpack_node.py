"""parser='msgpack' seen by socket.io-client 4.x built with node's socket.io-msgpack-parser
3.0.2 (tests/js/modern/msgpack.js): connect with auth, acks both ways, binary both ways,
namespaces, a broadcast, a server disconnect; over polling, websocket and the upgrade."""
import json
import os

import pytest

import geventio
from helpers import REPO_ROOT
from helpers.node import node_available, run_node
from helpers.server import make_application, serve

SCRIPT = os.path.join(REPO_ROOT, "tests", "js", "modern", "msgpack.js")
VARIANTS = ["polling", "websocket", "upgrade"]


class Chat(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        self.join("all")
        self.emit("welcome", auth)

    @geventio.event
    def echo(self, *args):
        return args

    @geventio.event("send bytes")
    def send_bytes(self, n):
        self.emit("bytes", bytes(range(n)), {"inner": [b"\xff\x00"]})

    @geventio.event
    def tell(self, value):
        self.emit("heard", value, type(value).__name__)

    @geventio.event("ask me")
    def ask_me(self, question):
        return list(self.call("question", question, timeout=5))

    @geventio.event
    def shout(self, text, data):
        self.router.emit("news", text, data, to="all")
        return "sent"

    @geventio.event
    def kick(self):
        self.close()


def _run(transport):
    router = geventio.get_router(Chat, {"parser": "msgpack"}, namespaces={"/other": Chat})
    with serve(make_application([router.route()])) as base:
        return run_node(SCRIPT, base, transport, timeout=50)


@pytest.fixture(scope="module")
def reports():
    if not node_available() and not os.environ.get("CI"):
        pytest.skip("needs node and node_modules (npm ci)")
    cache = {}

    def get(transport):
        if transport not in cache:
            cache[transport] = _run(transport)
        return cache[transport]
    return get


@pytest.fixture(params=VARIANTS)
def step(request, reports):
    report = reports(request.param)

    def value(name):
        entry = report.get(name)
        assert entry is not None, "no step %r in %s" % (name, json.dumps(report)[:2000])
        assert entry["ok"], "step %r failed: %s" % (name, entry["error"])
        return entry["value"]
    value.transport = request.param
    return value


def test_a_msgpack_client_connects_with_its_auth(step):
    assert step("connect")["id"] == "string"
    assert step("welcome") == [{"token": "abc", "n": [1, 2]}]


def test_acks_carry_every_value(step):
    assert step("ack") == ["hi", {"x": [1, None, 2.5, -3]}, "é😀"]


def test_binary_stays_binary_both_ways(step):
    assert step("binary ack") == [{"$buffer": "000102ff"}, {"nested": [{"$buffer": "616263"}]}]
    assert step("binary received") == [{"$buffer": "00010203"},
                                       {"inner": [{"$buffer": "ff00"}]}]


def test_an_event_without_ack_reaches_its_handler(step):
    assert step("plain emit, no ack") == ["plain", "str"]


def test_the_server_gets_the_clients_ack(step):
    assert step("server asks the client (ack from client)") == [
        ["answer to q1", {"$buffer": "09"}]]


def test_namespaces_connect_and_unknown_ones_are_refused(step):
    assert step("refused namespace") == {"kind": "Error", "message": "Invalid namespace"}
    assert step("namespace connects") == ["other ns"]


def test_a_broadcast_reaches_every_msgpack_client(step):
    news = ["hello all", {"$buffer": "0707"}]
    assert step("broadcast to both") == [news, news]


def test_the_transport_is_the_one_asked_for(step):
    expected = "polling" if step.transport == "polling" else "websocket"
    assert step("connect")["transport"] in (("polling", "websocket")
                                            if step.transport == "upgrade" else (expected,))
    assert step("upgraded") == expected


def test_a_server_disconnect_reaches_the_client(step):
    assert step("server disconnect") == "io server disconnect"
