"""The python-socketio client (from PyPI) against geventio, over each Engine.IO 4 transport.

The client runs in a child process (no gevent monkey-patching there: it uses its own
threads), talks to the same Chat handler as the Node clients (test_modern_node.py) and
prints one JSON report. Three variants: polling only, WebSocket only, and the client's
default (polling, then an upgrade to WebSocket). They run at the same time.
"""
import collections
import json
import os
import sys

import gevent
import pytest

import geventio
from helpers.node import run_json
from helpers.server import make_application, serve
from test_modern_node import BULK_SETTINGS, SETTINGS, VALUES, Record, make_handler

if not os.environ.get("CI"):  # in CI a missing test extra is a broken setup: fail, not skip
    pytest.importorskip("socketio", reason="needs python-socketio[client] (the test extra)")
    pytest.importorskip("websocket", reason="needs websocket-client (the test extra)")

# The child process. argv: base URL, transport variant. Prints one JSON line.
CLIENT = r'''
import collections, json, sys, threading, time, traceback
import engineio.payload
import socketio

base, variant = sys.argv[1], sys.argv[2]
# python-engineio's documented workaround (python-engineio#142) for its polling client's
# limit of 16 packets per payload: a server that has queued more sends them in one payload.
engineio.payload.Payload.max_decode_packets = int(sys.argv[4])
TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}[variant]
VALUES = json.loads(sys.argv[3])
report = {}
# Built before connecting: building them holds the GIL long enough to miss a 0.2 s pong.
BIG_TEXT = ("geventio 1 MiB text / " * 50000)[:1024 * 1024 - 1] + "😀"
BIG_DATA = bytes(bytearray((i * 7 + (i >> 10)) & 0xFF for i in range(1024 * 1024)))


def step(name):
    def run(fn):
        started = time.monotonic()
        try:
            report[name] = {"ok": True, "value": fn()}
        except BaseException:
            report[name] = {"ok": False, "error": traceback.format_exc()}
        report[name]["ms"] = int((time.monotonic() - started) * 1000)
        return fn
    return run


def describe(value):
    if isinstance(value, (bytes, bytearray)):
        return {"$buffer": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    return value


class Client:
    """A socketio.Client that records its events."""

    def __init__(self, namespace="/", **options):
        options.setdefault("reconnection", False)
        # websocket-client checks received text in pure Python (~0.4 s per MiB, holding the
        # GIL) unless told not to: long enough for the 1 MiB echo to miss a 0.2 s pong.
        options["websocket_extra_options"] = {"skip_utf8_validation": True}
        self.sio = socketio.Client(handle_sigint=False, **options)
        self.namespace = namespace
        self.events = collections.defaultdict(list)
        self.cond = threading.Condition()
        self.errors = []
        self.disconnects = []
        sio = self.sio

        @sio.on("*", namespace=namespace)
        def any_event(event, *args):
            with self.cond:
                self.events[event].append(list(args))
                self.cond.notify_all()

        @sio.on("connect", namespace=namespace)
        def connect():
            with self.cond:
                self.events["connect"].append([])
                self.cond.notify_all()

        @sio.on("connect_error", namespace=namespace)
        def connect_error(*data):
            self.errors.append(list(data))

        @sio.on("disconnect", namespace=namespace)
        def disconnect(reason=None):
            with self.cond:
                self.disconnects.append(reason)
                self.cond.notify_all()

        @sio.on("question", namespace=namespace)
        def question(mode, value):
            if mode == "one":
                return {"doubled": value * 2}
            if mode == "many":
                return (1, "two", value)
            return None

        @sio.on("silence", namespace=namespace)
        def silence():
            time.sleep(1)  # never acknowledges in time
            return "too late"

    def connect(self, auth=None, path="socket.io"):
        self.sio.connect(base, auth=auth, transports=TRANSPORTS, namespaces=[self.namespace],
                         socketio_path=path, wait_timeout=5)
        return self

    def wait(self, predicate, timeout=5):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError("timed out; events %r" % dict(self.events))

    def call(self, event, *args, timeout=8):
        return self.sio.call(event, args if len(args) != 1 else args[0],
                             namespace=self.namespace, timeout=timeout)

    def emit(self, event, *args):
        self.sio.emit(event, args if len(args) != 1 else args[0], namespace=self.namespace)


main = Client()
main.connect(auth={"token": "abc", "n": 1, "nested": {"x": [1]}})
report["connect"] = {"ok": True, "value": {"sid": main.sio.get_sid("/")}}
report["handshake"] = {"ok": True, "value": {"ping_interval": main.sio.eio.ping_interval,
                                             "ping_timeout": main.sio.eio.ping_timeout}}


@step("welcome")
def _():
    main.wait(lambda: main.events["welcome"])
    return main.events["welcome"][0]


@step("info")
def _():
    return main.call("info")


@step("types")
def _():
    return main.sio.call("types", tuple(VALUES), timeout=8)


@step("ack none")
def _():
    return main.call("ack none", 1)


@step("ack one")
def _():
    return main.call("ack one", 1)


@step("ack many")
def _():
    return main.call("ack many", 1)


@step("binary")
def _():
    return describe(main.call("binary", b"\x00\x01\x02\x03\xfe\xff",
                              {"nested": "héllo".encode(), "list": [1, b"\x07"]}))


@step("call one")
def _():
    return main.call("ask", "one", 21)


@step("call many")
def _():
    return main.call("ask", "many", 3)


@step("call none")
def _():
    return main.call("ask", "none", 0)


@step("call timeout")
def _():
    return main.call("ask silent")


@step("emit callback")
def _():
    main.call("emit with callback", 5)
    main.wait(lambda: main.events["callback got"])
    return main.events["callback got"][0][0]


@step("message text")
def _():
    main.sio.send("hello 😀")
    main.wait(lambda: main.events["message"])
    return main.events["message"][0][0]


# The 1 MiB messages go to the router at /bulk/, whose heartbeat is not the 0.2 s one.
bulk = Client().connect(path="bulk")


@step("big text")
def _():
    back, length = bulk.call("big", BIG_TEXT)
    return {"sentLength": len(BIG_TEXT), "serverLength": length, "intact": back == BIG_TEXT}


@step("big binary")
def _():
    back, length = bulk.call("big", BIG_DATA)
    return {"sentLength": len(BIG_DATA), "serverLength": length, "intact": back == BIG_DATA}


bulk.sio.disconnect()


@step("burst to server")
def _():
    for i in range(200):
        main.emit("seq", i)
    return main.call("seq done")


@step("burst to client")
def _():
    main.call("burst", 200)
    main.wait(lambda: len(main.events["burst item"]) >= 200)
    return [args[0] for args in main.events["burst item"]]


@step("idle")
def _():
    eio_sid = main.sio.eio.sid
    before = len(main.disconnects)
    time.sleep(1.1)  # > 2 ping intervals (0.3 s) + ping timeout (0.2 s)
    return {"connected": main.sio.connected, "sameEngine": main.sio.eio.sid == eio_sid,
            "disconnects": len(main.disconnects) - before, "echo": main.call("echo", "still here")}


@step("transport")
def _():
    return {"name": main.sio.transport(), "server": main.call("info")["transport"]}


def refused(mode):
    client = Client()
    try:
        client.connect(auth={"refuse": mode})
        return "connected"
    except socketio.exceptions.ConnectionError as exc:
        return {"exception": str(exc), "connect_error": client.errors}
    finally:
        client.sio.disconnect()


@step("refused by False")
def _():
    return refused("false")


@step("refused by raise")
def _():
    return refused("raise")


# Over polling, session.close() answers a waiting GET with CLOSE (as node's engine.io
# does), which python-socketio takes as a deliberate disconnect (no reconnection), or,
# when no GET was waiting, the next GET gets 400 and it reconnects: a race, so polling
# reconnection is shown with socket.io-client instead (test_modern_node.py).
@step("reconnect")
def _():
    if variant == "polling":
        return "not run"
    r = Client(reconnection=True, reconnection_delay=0.05, reconnection_delay_max=0.1,
               randomization_factor=0)
    r.connect(auth={"token": "r"})
    try:
        first = r.call("info")
        r.emit("drop me")
        r.wait(lambda: r.disconnects)
        try:
            r.wait(lambda: len(r.events["connect"]) >= 2, timeout=1.5)
        except AssertionError:
            return {"reason": r.disconnects[0], "first": first, "reconnected": False}
        second = r.call("info")
        return {"reason": r.disconnects[0], "first": first, "second": second,
                "reconnected": r.sio.connected}
    finally:
        r.sio.disconnect()


@step("rooms")
def _():
    names = ["A", "B", "C"]
    socks = {n: Client(namespace="/rooms").connect() for n in names}
    try:
        got = lambda: {n: [a[0] for a in socks[n].events["room msg"]]
                       + ["all:" + a[0] for a in socks[n].events["all msg"]] for n in names}
        joined = {n: socks[n].call("join", "r1") for n in names}
        fence = lambda: [socks[n].call("echo", "fence") for n in names]
        steps = {}
        socks["A"].call("to room", "r1", "m1", None); fence(); steps["m1"] = got()
        socks["A"].call("to room", "r1", "m2", "conn"); fence(); steps["m2"] = got()
        left = socks["B"].call("leave", "r1")
        socks["C"].call("to room", "r1", "m3", "sid"); fence(); steps["m3"] = got()
        socks["A"].call("to all", "m4"); fence(); steps["m4"] = got()
        return {"joined": joined, "left": left, "steps": steps}
    finally:
        for s in socks.values():
            s.sio.disconnect()


@step("server disconnect")
def _():
    main.emit("kick me")
    main.wait(lambda: main.disconnects)
    time.sleep(0.3)
    return {"reason": main.disconnects[0], "connected": main.sio.connected}


main.sio.disconnect()
print(json.dumps(report, ensure_ascii=True))
sys.stdout.flush()
'''

VARIANTS = ["polling", "websocket", "upgrade"]


class Run:
    def __init__(self, variant, report, record, router):
        self.variant, self.report, self.record, self.router = variant, report, record, router

    def step(self, name):
        entry = self.report.get(name)
        assert entry is not None, "no step %r in %r" % (name, self.report)
        assert entry["ok"], "step %r failed: %s" % (name, entry["error"])
        return entry["value"]


def _run_variant(variant):
    record = Record()
    handler = make_handler(record)
    router = geventio.get_router(handler, SETTINGS, namespaces={"/rooms": handler})
    bulk = geventio.get_router(handler, BULK_SETTINGS, resource="bulk")
    with serve(make_application([router.route(), bulk.route()])) as base:
        try:
            report = run_json([sys.executable, "-c", CLIENT, base, variant,
                               json.dumps(VALUES), "1000"], timeout=50)
        except Exception as exc:
            report = {"fatal": "%s: %s" % (type(exc).__name__, exc)}
        deadline = gevent.get_hub().loop.now() + 5
        while (len(record.closes) < len(record.accepted())
               and gevent.get_hub().loop.now() < deadline):
            gevent.sleep(0.05)
        gevent.sleep(0.1)
    return Run(variant, report, record, router)


@pytest.fixture(scope="module")
def runs():
    """variant -> its Run, run on first use. One at a time: each client is CPU-hungry, and
    several of them on two cores answer the 0.2 s pings late."""
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = _run_variant(variant)
        result = cache[variant]
        assert "fatal" not in result.report, result.report["fatal"]
        return result
    return get


@pytest.fixture(params=VARIANTS)
def run(request, runs):
    return runs(request.param)


@pytest.fixture(params=["websocket", "upgrade"])
def websocket_run(request, runs):
    """The variants whose session ends up on a WebSocket."""
    return runs(request.param)


def test_the_client_connects_with_its_auth(run):
    assert run.step("info")["auth"] == {"token": "abc", "n": 1, "nested": {"x": [1]}}
    assert run.step("info")["protocol"] == "engine.io-4"


def test_the_client_reads_the_sub_second_ping_interval(run):
    assert run.step("handshake") == {"ping_interval": 0.3, "ping_timeout": 0.2}


def test_what_on_open_emits_arrives(run):
    assert run.step("welcome") == [{"auth": {"token": "abc", "n": 1, "nested": {"x": [1]}},
                                    "namespace": "/"}]


def test_the_client_sid_is_the_connection_session_id(run):
    assert run.step("info")["sid"] == run.step("connect")["sid"]


def test_on_open_returning_false_is_a_connect_error(run):
    refusal = run.step("refused by False")
    assert refusal != "connected"
    assert refusal["connect_error"] == [[{"message": "Connection refused"}]]


def test_connection_refused_carries_its_message_and_data(run):
    refusal = run.step("refused by raise")
    assert refusal != "connected"
    assert refusal["connect_error"] == [[{"message": "nope",
                                          "data": {"reason": "bad token", "code": 42}}]]


def test_every_json_type_round_trips(run):
    assert run.step("types") == VALUES


def test_every_json_type_reaches_the_handler_as_its_python_type(run):
    run.step("types")
    assert [(type(v).__name__, v) for v in run.record.types] == \
        [(type(v).__name__, v) for v in VALUES]


def test_binary_arguments_round_trip(run):
    assert run.step("binary") == [{"$buffer": "00010203feff"},
                                  {"nested": {"$buffer": "68c3a96c6c6f"},
                                   "list": [1, {"$buffer": "07"}]}]
    assert run.record.binary == [b"\x00\x01\x02\x03\xfe\xff",
                                 {"nested": "héllo".encode(), "list": [1, b"\x07"]}]


def test_a_one_mib_text_message_arrives_intact(run):
    assert run.step("big text") == {"sentLength": 1024 * 1024, "serverLength": 1024 * 1024,
                                    "intact": True}


def test_a_one_mib_binary_message_arrives_intact(run):
    assert run.step("big binary") == {"sentLength": 1024 * 1024,
                                      "serverLength": 1024 * 1024, "intact": True}


def test_send_reaches_on_message(run):
    assert run.step("message text") == "hello 😀"
    assert run.record.messages == ["hello 😀"]


def test_handler_return_values_become_acks(run):
    assert run.step("ack none") is None
    assert run.step("ack one") == "one"
    assert run.step("ack many") == [1, "two", [3]]


def test_call_returns_what_the_client_handler_returned(run):
    assert run.step("call one") == {"type": "dict", "value": {"doubled": 42}}
    assert run.step("call many") == {"type": "tuple", "value": [1, "two", 3]}
    assert run.step("call none") == {"type": "NoneType", "value": None}


def test_call_raises_timeout_error_when_the_client_does_not_ack_in_time(run):
    assert run.step("call timeout") == "TimeoutError"


def test_emit_callback_runs_with_the_clients_ack_arguments(run):
    assert run.step("emit callback") == [1, "two", 5]


def test_bursts_of_200_events_keep_their_order_both_ways(run):
    assert run.step("burst to server") == list(range(200))
    assert run.step("burst to client") == list(range(200))


def test_an_idle_connection_outlives_two_ping_intervals(run):
    assert run.step("idle") == {"connected": True, "sameEngine": True, "disconnects": 0,
                                "echo": "still here"}


def test_the_session_runs_on_the_expected_transport(run):
    expected = "polling" if run.variant == "polling" else "websocket"
    assert run.step("transport") == {"name": expected, "server": expected}


def test_room_emits_reach_exactly_the_members(run):
    rooms = run.step("rooms")
    assert all("r1" in joined for joined in rooms["joined"].values())
    assert "r1" not in rooms["left"]
    assert rooms["steps"] == {
        "m1": {"A": ["m1"], "B": ["m1"], "C": ["m1"]},
        "m2": {"A": ["m1"], "B": ["m1", "m2"], "C": ["m1", "m2"]},
        "m3": {"A": ["m1", "m3"], "B": ["m1", "m2"], "C": ["m1", "m2"]},
        "m4": {"A": ["m1", "m3", "all:m4"], "B": ["m1", "m2", "all:m4"],
               "C": ["m1", "m2", "all:m4"]},
    }


def test_conn_close_is_a_server_disconnect_for_the_client(run):
    # python-socketio names it 'server disconnect' (socket.io-client: 'io server disconnect')
    assert run.step("server disconnect") == {"reason": "server disconnect", "connected": False}


def test_the_client_reconnects_after_its_websocket_is_dropped(websocket_run):
    again = websocket_run.step("reconnect")
    assert again["reconnected"] is True
    assert again["second"]["sid"] != again["first"]["sid"]
    opened = [a for _, _, a, _ in websocket_run.record.opens if a.get("token") == "r"]
    assert opened == [{"token": "r"}] * 2


def test_on_close_runs_exactly_once_for_every_connection(run):
    run.step("server disconnect")
    accepted = run.record.accepted()
    counts = collections.Counter(id(c) for c in run.record.closes)
    assert set(counts) == {id(c) for c in accepted}
    assert set(counts.values()) == {1}


def test_no_session_outlives_its_client(run):
    assert run.router.session_count == 0


# -- python-engineio's 16-packet limit on polling payloads -----------------------------------

BURST_CLIENT = r'''
import json, sys, threading
import socketio

sio = socketio.Client(reconnection=False, handle_sigint=False)
got, done = [], threading.Event()
reasons = []
sio.on("burst item", lambda i: (got.append(i), len(got) == 20 and done.set()))
sio.on("disconnect", lambda reason=None: (reasons.append(reason), done.set()))
sio.connect(sys.argv[1], transports=["polling"], wait_timeout=5)
sio.emit("burst", 20)
done.wait(5)
connected = sio.connected
dropped = list(reasons)  # before our own disconnect() adds "client disconnect"
sio.disconnect()
print(json.dumps({"received": got, "connected": connected, "disconnects": dropped}))
'''


def test_a_burst_of_20_events_reaches_a_default_python_polling_client():
    record = Record()
    router = geventio.get_router(make_handler(record), SETTINGS)
    with serve(make_application([router.route()])) as base:
        report = run_json([sys.executable, "-c", BURST_CLIENT, base], timeout=30)
    assert report == {"received": list(range(20)), "connected": True, "disconnects": []}
