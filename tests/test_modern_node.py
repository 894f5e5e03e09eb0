"""Today's clients in Node against geventio: socket.io-client 4.8.x and 2.5.x.

Each variant (client version x transport) runs tests/js/modern/scenario.js once against its
own router; the tests below read that one conversation's report (what the client saw) and
the server's record (what the handlers saw). A variant runs when the first test that needs
it asks for it.

Variants: socket.io-client 4.x (Engine.IO 4 / Socket.IO 5) over polling only, WebSocket
only, and polling upgraded to WebSocket; socket.io-client 2.x (Engine.IO 3 / Socket.IO 4)
the same three ways (its default is polling + upgrade; polling only keeps the whole
conversation on Engine.IO 3's length-prefixed and XHR2-binary payloads).

The last sections speak the wire directly: the handshakes, and a client that stops
answering heartbeats.
"""
import collections
import json
import os

import gevent
import pytest

import geventio
from helpers import REPO_ROOT
from helpers.node import node_available, run_node
from helpers.server import make_application, serve
from helpers.wire import request

SCRIPT = os.path.join(REPO_ROOT, "tests", "js", "modern", "scenario.js")

SETTINGS = {
    "ping_interval": 0.3,
    "ping_timeout": 0.2,
    "max_http_buffer_size": 3_000_000,
}

#: the router at /bulk/ carries the 1 MiB messages: encoding, sending and decoding them on a
#: loaded two-core machine can outlast a 0.2 s pong deadline, which would make the test a
#: timing assertion
BULK_SETTINGS = dict(SETTINGS, ping_interval=1.0, ping_timeout=10.0)

VARIANTS = {
    "v4-polling": ("v4", "polling"),
    "v4-websocket": ("v4", "websocket"),
    "v4-upgrade": ("v4", "upgrade"),
    "v2-polling": ("v2", "polling"),
    "v2-upgrade": ("v2", "upgrade"),
    "v2-websocket": ("v2", "websocket"),
}

#: what scenario.js sends as VALUES, as Python decodes it
VALUES = [
    None, True, False, 0, 1, -1, 9007199254740991, -9007199254740991, 1.5, -0.25, 1e-7, 1e300,
    "", "plain", "é€ \u2028 😀𝄞", [], {}, [1, [2, [3, [None, "x"]]]],
    {"a": {"b": [1, {"c": None, "d": "😀"}]}, "😀 key": True, "empty": {}},
]


class Record:
    """What the handlers of one router saw."""

    def __init__(self):
        self.opens = []          # (conn, namespace, auth, refused)
        self.closes = []         # conn, once per on_close call
        self.messages = []
        self.types = None
        self.binary = None
        self.big = []            # (type name, length)
        self.seq = collections.defaultdict(list)
        self.interrupted = []    # what call() raised when the client went away

    def conns(self, token=None, namespace=None):
        """Connections opened with this auth token (and namespace), in order."""
        return [c for c, ns, auth, _ in self.opens
                if (token is None or auth.get("token") == token)
                and (namespace is None or ns == namespace)]

    def close_count(self, conn):
        return sum(1 for c in self.closes if c is conn)

    def accepted(self):
        return [conn for conn, _, _, refused in self.opens if not refused]


def make_handler(record):
    class Chat(geventio.SocketConnection):
        def on_open(self, request, *args, **kwargs):
            auth = kwargs["auth"]
            refuse = auth.get("refuse")
            record.opens.append((self, self.namespace, auth, bool(refuse)))
            if refuse == "false":
                return False
            if refuse == "raise":
                raise geventio.ConnectionRefused("nope", data={"reason": "bad token", "code": 42})
            self.emit("welcome", {"auth": auth, "namespace": self.namespace})

        def on_message(self, message):
            record.messages.append(message)
            self.send(message)

        def on_close(self):
            record.closes.append(self)

        @geventio.event
        def echo(self, *args):
            return args

        @geventio.event
        def info(self):
            return {"sid": self.session_id, "namespace": self.namespace, "engine": self.session.id,
                    "protocol": self.session.protocol, "transport": self.session.transport,
                    "auth": next(a for c, _, a, _ in record.opens if c is self)}

        @geventio.event
        def types(self, *args):
            record.types = list(args)
            return args

        @geventio.event("ack none")
        def ack_none(self, *args):
            return None

        @geventio.event("ack one")
        def ack_one(self, *args):
            return "one"

        @geventio.event("ack many")
        def ack_many(self, *args):
            return (1, "two", [3])

        @geventio.event
        def binary(self, *args):
            record.binary = list(args)
            return args

        @geventio.event
        def big(self, data):
            record.big.append((type(data).__name__, len(data)))
            return data, len(data)

        @geventio.event
        def ask(self, mode, value):
            answer = self.call("question", mode, value, timeout=5)
            return {"type": type(answer).__name__, "value": answer}

        @geventio.event("ask silent")
        def ask_silent(self):
            try:
                self.call("silence", timeout=0.3)
            except geventio.TimeoutError:
                return "TimeoutError"
            return "acknowledged?"

        @geventio.event("emit with callback")
        def emit_with_callback(self, value):
            self.emit("question", "many", value,
                      callback=lambda *ack: self.emit("callback got", list(ack)))

        @geventio.event
        def seq(self, i):
            record.seq[self.session_id].append(i)

        @geventio.event("seq done")
        def seq_done(self):
            return record.seq.pop(self.session_id, [])

        @geventio.event
        def burst(self, n):
            for i in range(n):
                self.emit("burst item", i)

        @geventio.event("ask and wait")
        def ask_and_wait(self):
            try:
                self.call("silence", timeout=5)
            except Exception as exc:
                record.interrupted.append(type(exc).__name__)

        @geventio.event
        def boom(self):
            raise RuntimeError("a handler failure the test expects")

        @geventio.event("send list")
        def send_list(self):
            self.send(["one", {"two": 2}, 3])

        @geventio.event("emit binary")
        def emit_binary(self):
            self.emit("bin", b"\x00\xffbinary", {"nested": b"\x01"})

        @geventio.event("kick me")
        def kick_me(self):
            self.close()

        @geventio.event("drop me")
        def drop_me(self):
            self.session.close()

        @geventio.event("join")
        def on_join(self, room):
            self.join(room)
            return sorted(self.rooms)

        @geventio.event("leave")
        def on_leave(self, room):
            self.leave(room)
            return sorted(self.rooms)

        @geventio.event("to room")
        def to_room(self, room, message, skip):
            skip = {"conn": self, "sid": self.session_id, None: None}[skip]
            return self.router.emit("room msg", message, to=room, skip=skip,
                                    namespace=self.namespace)

        @geventio.event("to all")
        def to_all(self, message):
            return self.router.emit("all msg", message, namespace=self.namespace)

    return Chat


class Run:
    def __init__(self, variant, report, record, router, base):
        self.variant = variant
        self.version, self.transport = VARIANTS[variant]
        self.report = report
        self.record = record
        self.router = router
        self.base = base

    def step(self, name):
        entry = self.report.get(name)
        assert entry is not None, "no step %r in %s" % (name, json.dumps(self.report)[:2000])
        assert entry["ok"], "step %r failed: %s" % (name, entry["error"])
        return entry["value"]


def _run_variant(variant):
    version, transport = VARIANTS[variant]
    record = Record()
    handler = make_handler(record)
    router = geventio.get_router(handler, SETTINGS,
                                 namespaces={"/ns": handler, "/rooms": handler})
    bulk = geventio.get_router(handler, BULK_SETTINGS, resource="bulk")
    with serve(make_application([router.route(), bulk.route()])) as base:
        try:
            report = run_node(SCRIPT, base, version, transport, timeout=50)
        except Exception as exc:  # reported by every test of the variant
            report = {"fatal": "%s: %s" % (type(exc).__name__, exc)}
        # The client process is gone: every connection it had must end on the server.
        deadline = gevent.get_hub().loop.now() + 5
        while (len(record.closes) < len(record.accepted())
               and gevent.get_hub().loop.now() < deadline):
            gevent.sleep(0.05)
        # ...and nothing more may end afterwards (a second on_close would show up here).
        gevent.sleep(0.1)
    result = Run(variant, report, record, router, base)
    result.bulk = bulk
    return result


@pytest.fixture(scope="module")
def runs():
    """variant -> its Run, run when a test first needs it. One variant at a time: with
    several at once on two cores a client (or the server) can stall past the 0.2 s pong
    deadline, and the test would become a timing assertion."""
    if not node_available() and not os.environ.get("CI"):
        pytest.skip("needs node and node_modules (npm ci)")
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = _run_variant(variant)
        result = cache[variant]
        assert "fatal" not in result.report, result.report["fatal"]
        return result
    return get


@pytest.fixture(params=list(VARIANTS))
def run(request, runs):
    return runs(request.param)


# -- connecting -------------------------------------------------------------------------------

def test_the_client_connects(run):
    assert run.step("connect")["id"]


def test_the_handshake_advertises_the_sub_second_ping_interval_in_exact_milliseconds(run):
    handshake = run.step("handshake")
    assert handshake["pingInterval"] == 300
    assert handshake["pingTimeout"] == 200


def test_the_auth_payload_reaches_on_open(run):
    info = run.step("info")
    if info["protocol"] == "engine.io-4":
        assert info["auth"] == {"token": "abc", "n": 1, "nested": {"x": [1]}}
    else:  # socket.io-client 2.x: the query of its namespace, '/ns?token=1'
        assert info["namespace"] == "/ns"
        assert info["auth"] == {"token": "1"}


def test_the_server_knows_the_protocol_generation(run):
    expected = {"v4": "engine.io-4", "v2": "engine.io-3"}[run.version]
    assert run.step("info")["protocol"] == expected


def test_what_on_open_emits_arrives_after_connect(run):
    welcome = run.step("welcome")
    assert welcome["order"] == ["connect", "welcome"]
    assert welcome["args"][0]["auth"] == run.step("info")["auth"]


def test_the_client_sid_is_the_connection_session_id(run):
    assert run.step("info")["sid"] == run.step("connect")["id"]


def test_on_open_returning_false_is_a_connect_error(run):
    refusal = run.step("refused by False")
    assert refusal != "connected"
    if refusal["kind"] == "Error":  # v4: connect_error(err)
        assert refusal["message"] == "Connection refused"
        assert "data" not in refusal
    else:  # v2: 'error' with the ERROR packet's payload
        assert refusal["value"] == "Connection refused"


def test_connection_refused_carries_its_message_and_data(run):
    refusal = run.step("refused by raise")
    assert refusal != "connected"
    if refusal["kind"] == "Error":
        assert refusal["message"] == "nope"
        assert refusal["data"] == {"reason": "bad token", "code": 42}
    else:  # v2 follows node: the data when given, else the message
        assert refusal["value"] == {"reason": "bad token", "code": 42}


# -- data -------------------------------------------------------------------------------------

def test_every_json_type_round_trips(run):
    assert run.step("types") == VALUES


def test_every_json_type_reaches_the_handler_as_its_python_type(run):
    run.step("types")
    typed = [(type(v).__name__, v) for v in run.record.types]
    assert typed == [(type(v).__name__, v) for v in VALUES]


def test_binary_arguments_round_trip_at_any_depth(run):
    assert run.step("binary") == [{"$buffer": "00010203feff"},
                                  {"nested": {"$buffer": "68c3a96c6c6f"},
                                   "list": [1, {"$buffer": "07"}]}]


def test_binary_arguments_reach_the_handler_as_bytes(run):
    run.step("binary")
    assert run.record.binary == [b"\x00\x01\x02\x03\xfe\xff",
                                 {"nested": "héllo".encode(), "list": [1, b"\x07"]}]


def test_a_one_mib_text_message_arrives_intact(run):
    big = run.step("big text")
    assert big == {"sentLength": 1024 * 1024, "serverLength": 1024 * 1024 - 1, "intact": True}


def test_a_one_mib_binary_message_arrives_intact(run):
    big = run.step("big binary")
    assert big == {"sentLength": 1024 * 1024, "serverLength": 1024 * 1024, "intact": True}
    assert ("bytes", 1024 * 1024) in run.record.big


def test_socket_send_reaches_on_message_and_self_send_answers_it(run):
    assert run.step("message text") == "hello 😀"
    assert run.step("message object") == {"a": [1, 2], "b": "ü"}
    assert run.record.messages == ["hello 😀", {"a": [1, 2], "b": "ü"}]


# -- acknowledgements -------------------------------------------------------------------------

def test_a_handler_returning_none_acks_without_arguments(run):
    assert run.step("ack none") == []


def test_a_handler_returning_a_value_acks_with_it(run):
    assert run.step("ack one") == ["one"]


def test_a_handler_returning_a_tuple_acks_with_its_items(run):
    assert run.step("ack many") == [1, "two", [3]]


def test_call_returns_the_clients_single_ack_value(run):
    assert run.step("call one") == {"type": "dict", "value": {"doubled": 42}}


def test_call_returns_several_ack_values_as_a_tuple(run):
    assert run.step("call many") == {"type": "tuple", "value": [1, "two", 3]}


def test_call_returns_none_for_an_empty_ack(run):
    assert run.step("call none") == {"type": "NoneType", "value": None}


def test_call_raises_timeout_error_when_the_client_never_acks(run):
    assert run.step("call timeout") == "TimeoutError"


def test_emit_callback_runs_with_the_clients_ack_arguments(run):
    assert run.step("emit callback") == [1, "two", 5]


# -- order ------------------------------------------------------------------------------------

def test_a_burst_of_200_client_events_reaches_the_handler_in_order(run):
    assert run.step("burst to server") == list(range(200))


def test_a_burst_of_200_server_events_reaches_the_client_in_order(run):
    assert run.step("burst to client") == list(range(200))


# -- staying connected, transports ------------------------------------------------------------

def test_an_idle_connection_outlives_two_ping_intervals(run):
    idle = run.step("idle")
    assert idle == {"connected": True, "sameEngine": True, "disconnects": 0,
                    "echo": ["still here"]}


def test_the_session_runs_on_the_expected_transport(run):
    transport = run.step("transport")
    expected = "polling" if run.transport == "polling" else "websocket"
    assert transport["name"] == expected
    assert transport["server"] == expected
    if run.transport == "upgrade":
        assert transport["upgradedTo"] == "websocket"


def test_send_with_a_list_sends_each_item_as_a_message(run):
    assert run.step("send list") == ["one", {"two": 2}, 3]


def test_a_server_emit_with_bytes_arrives_as_binary(run):
    assert run.step("binary event") == [{"$buffer": "00ff62696e617279"},
                                        {"nested": {"$buffer": "01"}}]


def test_a_handler_that_raises_does_not_end_the_connection(run):
    assert run.step("handler raises") == {"echo": ["still alive"], "connected": True}


def test_an_unknown_namespace_is_refused_as_invalid(run):
    refusal = run.step("unknown namespace")
    if run.version == "v4":
        assert refusal == {"kind": "Error", "message": "Invalid namespace"}
    else:  # socket.io 4.x servers answer EIO3 clients with the object too
        assert refusal == {"kind": "object", "value": {"message": "Invalid namespace"}}


def test_two_namespaces_share_one_session(run):
    mux = run.step("multiplex")
    assert mux["sameSession"] is True
    assert mux["namespaces"] == ["/", "/ns"]


def test_closing_one_namespace_leaves_the_other_connected(run):
    mux = run.step("multiplex")
    assert mux["reason"] == "io server disconnect"
    assert mux["echo"] == ["a still here"]
    assert (mux["aConnected"], mux["bConnected"]) == (True, False)


def test_call_raises_connection_closed_when_the_client_leaves_first(run):
    run.step("call interrupted")
    assert run.record.interrupted == ["ConnectionClosed"]


# -- rooms ------------------------------------------------------------------------------------

def test_joining_a_room_shows_in_rooms(run):
    rooms = run.step("rooms")
    for joined in rooms["joined"].values():
        assert "r1" in joined and len(joined) == 2  # r1 and its own session_id room
    assert "r1" not in rooms["left"]


def test_router_emit_to_a_room_reaches_every_member(run):
    steps = run.step("rooms")["steps"]
    assert steps["m1"] == {"A": ["m1"], "B": ["m1"], "C": ["m1"]}


def test_router_emit_skip_a_connection_leaves_out_the_sender(run):
    steps = run.step("rooms")["steps"]
    assert steps["m2"] == {"A": ["m1"], "B": ["m1", "m2"], "C": ["m1", "m2"]}


def test_a_connection_that_left_and_one_skipped_by_session_id_get_nothing(run):
    steps = run.step("rooms")["steps"]
    assert steps["m3"] == {"A": ["m1", "m3"], "B": ["m1", "m2"], "C": ["m1", "m2"]}


def test_router_emit_without_a_room_reaches_everyone_in_the_namespace(run):
    steps = run.step("rooms")["steps"]
    assert steps["m4"] == {"A": ["m1", "m3", "all:m4"], "B": ["m1", "m2", "all:m4"],
                           "C": ["m1", "m2", "all:m4"]}


# -- ending -----------------------------------------------------------------------------------

def test_conn_close_is_io_server_disconnect_on_the_client(run):
    assert run.step("server disconnect") == {"reason": "io server disconnect", "connected": False}


def test_the_client_reconnects_after_its_transport_is_dropped(run):
    again = run.step("reconnect")
    assert again["reason"] in ("transport close", "transport error")
    assert again["connected"] is True
    assert again["second"]["sid"] != again["first"]["sid"]


def test_a_reconnection_is_a_new_on_open(run):
    run.step("reconnect")
    token = "r"
    opened = [auth for _, _, auth, _ in run.record.opens if auth.get("token") == token]
    assert len(opened) == 2


def _main_token(run):
    return "abc" if run.version == "v4" else "1"


def test_on_close_runs_once_after_conn_close(run):
    run.step("server disconnect")
    [main] = run.record.conns(_main_token(run))
    assert run.record.close_count(main) == 1


def test_on_close_runs_once_after_session_close(run):
    run.step("reconnect")
    first = run.record.conns("r")[0]
    assert run.record.close_count(first) == 1


def test_on_close_runs_once_when_the_client_disconnects(run):
    run.step("rooms")
    members = run.record.conns(namespace="/rooms")
    assert len(members) == 3
    assert [run.record.close_count(c) for c in members] == [1, 1, 1]


def test_on_close_runs_once_when_the_client_process_goes_away(run):
    run.step("linger")
    [linger] = run.record.conns("linger")
    assert run.record.close_count(linger) == 1


def test_on_close_runs_once_for_a_connection_closed_while_its_handler_blocks(run):
    run.step("call interrupted")
    [conn] = run.record.conns("interrupt")
    assert run.record.close_count(conn) == 1


def test_on_close_runs_exactly_once_for_every_accepted_connection(run):
    accepted = run.record.accepted()
    counts = collections.Counter(id(c) for c in run.record.closes)
    assert len(accepted) >= 10
    assert set(counts) == {id(c) for c in accepted}
    assert set(counts.values()) == {1}


def test_a_refused_connection_never_runs_on_close(run):
    refused = [c for c, _, _, r in run.record.opens if r]
    assert len(refused) == 2
    assert [run.record.close_count(c) for c in refused] == [0, 0]


def test_no_session_outlives_its_client(run):
    assert run.router.session_count == 0
    assert run.bulk.session_count == 0


# -- the handshake on the wire ------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_server():
    router = geventio.get_router(make_handler(Record()), SETTINGS)
    with serve(make_application([router.route()])) as base:
        yield base


def test_the_eio4_handshake_carries_exact_milliseconds_and_max_payload(plain_server):
    status, headers, body = request(plain_server, "GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200
    assert body[:1] == b"0"
    data = json.loads(body[1:])
    assert data["pingInterval"] == 300 and data["pingTimeout"] == 200
    assert data["maxPayload"] == 3_000_000
    assert data["upgrades"] == ["websocket"]


def test_the_eio3_handshake_is_a_length_prefixed_payload_without_max_payload(plain_server):
    status, headers, body = request(plain_server, "GET", "/socket.io/?EIO=3&transport=polling")
    assert status == 200
    length, _, packet = body.decode("utf-8").partition(":")
    assert int(length) == len(packet) and packet[0] == "0"
    data = json.loads(packet[1:])
    assert data["pingInterval"] == 300 and data["pingTimeout"] == 200
    assert "maxPayload" not in data


# -- a client that stops answering: the heartbeat ends it ----------------------------------------

@pytest.fixture
def silent_server():
    record = Record()
    router = geventio.get_router(make_handler(record), SETTINGS)
    with serve(make_application([router.route()])) as base:
        yield base, record, router


@pytest.mark.parametrize("eio", [4, 3])
def test_a_client_that_stops_answering_heartbeats_is_closed_and_on_close_runs_once(
        silent_server, eio):
    """EIO4: the server's pings go unanswered; EIO3: the client never pings. Either way
    the session ends within ping_interval + ping_timeout and on_close runs once."""
    import websocket  # websocket-client (test extra); its sockets are gevent's here

    base, record, router = silent_server
    url = base.replace("http://", "ws://") + "/socket.io/?EIO=%d&transport=websocket" % eio
    ws = websocket.create_connection(url, timeout=5)
    try:
        assert ws.recv().startswith("0{")
        if eio == 4:
            ws.send("40")
        assert ws.recv().startswith("40")  # EIO3: the server connects '/' by itself
        opened = gevent.get_hub().loop.now()
        frames = []
        while True:  # read (never answer) until the server closes
            try:
                frame = ws.recv()
            except websocket.WebSocketConnectionClosedException:
                break
            if not frame:
                break
            frames.append(frame)
        waited = gevent.get_hub().loop.now() - opened
    finally:
        ws.close()
    assert waited < 3  # bounded: 0.3 + 0.2 s and scheduling
    # meanwhile only the handler's welcome and (EIO4) the unanswered pings came
    assert all(f == "2" or f.startswith('42["welcome"') for f in frames), frames
    gevent.sleep(0.1)
    [conn] = record.accepted()
    assert record.close_count(conn) == 1
    assert router.session_count == 0
