"""The hooks seen by socket.io-client 4.x and 2.x in Node (tests/js/modern/hooks.js):
middleware refusals, the catch-all, on_error with no ack, dynamic namespaces, and
allow_request refusing the handshake."""
import json
import os
import re

import pytest

import geventio
from helpers import REPO_ROOT
from helpers.node import node_available, run_node
from helpers.server import make_application, serve

SCRIPT = os.path.join(REPO_ROOT, "tests", "js", "modern", "hooks.js")
VARIANTS = {
    "v4-polling": ("v4", "polling"),
    "v4-websocket": ("v4", "websocket"),
    "v2-polling": ("v2", "polling"),
    "v2-websocket": ("v2", "websocket"),
}


ERRORS = []


class Main(geventio.SocketConnection):

    @geventio.event
    def known(self, value):
        return "known", value

    @geventio.event("*")
    def any_event(self, event, *args):
        self.emit("caught", event, *args)
        return "caught " + event, list(args)

    @geventio.event
    def boom(self, value):
        raise RuntimeError("boom %s" % value)

    @geventio.event
    def errors(self):
        return [list(e) for e in ERRORS]

    @geventio.event
    def announce(self, namespace):
        return self.router.emit("news", "for members", to="members", namespace=namespace)

    def on_error(self, exc, event, args):
        ERRORS.append((event, str(exc), list(args)))


class Room(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        self.join("members")
        self.emit("welcome", type(self).__name__, self.namespace)


def refuse_on_request(conn, request, auth):
    if auth.get("refuse"):
        raise geventio.ConnectionRefused("refused by middleware", {"why": auth["refuse"]})


def private_only(conn, request, auth):
    raise geventio.ConnectionRefused("private")


def _run(variant):
    version, transport = VARIANTS[variant]
    del ERRORS[:]
    router = geventio.get_router(Main, namespaces={"/private": Main,
                                                   re.compile(r"^/room-\d+$"): Room})
    router.use(refuse_on_request)
    router.use(private_only, namespace="/private")
    guarded = geventio.get_router(Main, {"allow_request": lambda request: False},
                                  resource="guarded")
    with serve(make_application([router.route(), guarded.route()])) as base:
        return run_node(SCRIPT, base, version, transport, timeout=50)


@pytest.fixture(scope="module")
def reports():
    if not node_available() and not os.environ.get("CI"):
        pytest.skip("needs node and node_modules (npm ci)")
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = _run(variant)
        return cache[variant]
    return get


@pytest.fixture(params=list(VARIANTS))
def step(request, reports):
    report = reports(request.param)

    def value(name):
        entry = report.get(name)
        assert entry is not None, "no step %r in %s" % (name, json.dumps(report)[:2000])
        assert entry["ok"], "step %r failed: %s" % (name, entry["error"])
        return entry["value"]
    value.v4 = request.param.startswith("v4")
    return value


def test_a_middleware_refusal_reaches_connect_error_with_its_message_and_data(step):
    if not step.v4:
        pytest.skip("the CONNECT payload (auth) is socket.io-client 3+")
    assert step("refused by a middleware") == {
        "kind": "Error", "message": "refused by middleware", "data": {"why": "yes"}}


def test_a_namespace_middleware_refuses_its_namespace_only(step):
    assert step("connect")["id"]
    refusal = step("refused by a namespace middleware")
    if step.v4:
        assert refusal == {"kind": "Error", "message": "private"}
    else:  # v2: 'error' with the ERROR packet's payload
        assert refusal == {"kind": "string", "value": "private"}


def test_the_catch_all_acknowledges_an_event_without_a_handler(step):
    assert step("catch-all ack") == ["caught anything", [1, {"a": [2]}]]


def test_the_catch_all_gets_the_event_name_and_arguments(step):
    assert step("catch-all emit") == ["other event", "x"]


def test_an_event_with_its_own_handler_skips_the_catch_all(step):
    assert step("own handler not caught") == ["known", 5]


def test_an_acked_event_whose_handler_raised_gets_no_ack(step):
    assert step("raising handler: no ack") == "no ack"
    assert step("still connected after the error") == ["known", 6]


def test_the_raising_handler_reached_on_error(step):
    assert step("raising handler: on_error ran") == [[["boom", "boom 7", [7]]]]


def test_a_dynamic_namespace_gets_its_pattern_class(step):
    assert step("dynamic namespace connects") == ["Room", "/room-7"]


def test_a_dynamic_namespace_receives_a_router_emit_to_its_room(step):
    assert step("dynamic namespace gets a room broadcast") == ["for members"]


def test_a_namespace_matching_no_pattern_is_refused(step):
    refusal = step("unmatched dynamic namespace refused")
    assert refusal != "connected"
    if step.v4:
        assert refusal == {"kind": "Error", "message": "Invalid namespace"}


def test_allow_request_refusing_the_handshake_fails_the_connection(step):
    refusal = step("allow_request refuses the handshake")
    assert refusal != "connected"
    if step.v4:
        assert refusal["kind"] == "Error"
        assert refusal["message"] in ("xhr poll error", "websocket error")
