"""Sessions, whatever their transport: ids, limits, isolation of handlers and clients,
clean-up, delivery guarantees, and sending to rooms from outside a connection."""
import base64
import gc
import json
import logging
import random
import re

import gevent
import greenlet
from gevent.event import Event
from gevent.pool import Pool
import pytest

import geventio
from helpers.apps import Recorder
from helpers.server import make_application, serve
from helpers.wire import request
from helpers.wire06 import HTTPStream, Hixie76Client, Peer, RFC6455Client, decode, encode

PAGE_ORIGIN = "http://127.0.0.1:9999"
FAST = {"heartbeat_interval": 0.2, "max_missed_heartbeats": 5, "xhr_polling_timeout": 0.3,
        "session_expiry": 0.5, "session_check_interval": 0.1,
        "cors_allowed_origins": [PAGE_ORIGIN]}
SID = re.compile(r"^[A-Za-z0-9_-]{20}$")


class Handler(geventio.SocketConnection):
    """Echoes, plus a few commands: "boom" raises, "block" blocks until released,
    "join:<room>" joins a room."""

    recorder = None
    release = None  # a gevent Event the test sets to unblock "block"

    def on_open(self, request, *args, **kwargs):
        self.recorder.connections.append(self)
        self.recorder.events.append(("open", self.session_id))

    def on_message(self, message):
        self.recorder.events.append(("message", self.session_id, message))
        if message == "boom":
            raise RuntimeError("boom from on_message")
        if message == "block":
            self.recorder.events.append(("blocked", self.session_id))
            while not self.release.is_set():
                gevent.sleep(0.01)
            self.recorder.events.append(("unblocked", self.session_id))
        if message.startswith("join:"):
            self.join(message[5:])
        self.send(message)

    def on_close(self):
        self.recorder.events.append(("close", self.session_id))


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def start(recorder):
    """start(**settings) -> (router, base URL) of a fresh server."""
    handler = type("Handler", (Handler,), {"recorder": recorder,
                                           "release": Event()})
    servers = []

    def start(**settings):
        router = geventio.get_router(handler, dict(FAST, **settings))
        server = serve(make_application([router.route()]))
        servers.append(server)
        return router, server.__enter__()
    yield start
    handler.release.set()
    for server in servers:
        server.__exit__(None, None, None)


def xhr_connect(base):
    status, _, body = request(base, "GET", "/socket.io/xhr-polling//1305500000000")
    assert status == 200, body
    return decode(body.decode())[0]


def xhr_poll(base, sid):
    status, _, body = request(base, "GET", "/socket.io/xhr-polling/%s/1305500000001" % sid)
    assert status == 200, (status, body)
    return decode(body.decode("utf-8"))


def jsonp_connect(base):
    status, _, body = request(base, "GET", "/socket.io/jsonp-polling//1305500000000/0")
    assert status == 200, body
    return decode(jsonp_payload(body))[0]


def jsonp_payload(body):
    literal = re.match(rb'^io\.JSONP\[0\]\._\((".*")\);$', body, re.DOTALL).group(1)
    return json.loads(literal.decode("utf-8"))


def jsonp_poll(base, sid):
    status, _, body = request(base, "GET", "/socket.io/jsonp-polling/%s/1305500000001/0" % sid)
    assert status == 200, (status, body)
    return decode(jsonp_payload(body))


POLLING = {"xhr-polling": (xhr_connect, xhr_poll), "jsonp-polling": (jsonp_connect, jsonp_poll)}


def live_greenlets():
    # type() rather than isinstance(): lazy proxies (Django's settings) answer isinstance
    # by evaluating themselves, which may raise.
    # Raw greenlets count too: the session's worker is one.
    return {g for g in gc.get_objects() if issubclass(type(g), greenlet.greenlet) and not g.dead}


# -- session ids ----------------------------------------------------------------------------


def test_session_ids_are_20_url_safe_characters_unique_over_1000_sessions(start):
    _, base = start(session_expiry=30)
    pool = Pool(20)
    sids = pool.map(lambda _: xhr_connect(base), range(1000))
    assert all(SID.match(sid) for sid in sids), [s for s in sids if not SID.match(s)][:5]
    assert len(set(sids)) == 1000
    # 20 base64url characters carry 15 bytes: 120 random bits
    assert all(len(base64.urlsafe_b64decode(sid)) == 15 for sid in sids)


def test_session_ids_come_from_the_os_csprng_not_the_seedable_random_module(start, monkeypatch):
    _, base = start()
    random.seed(1234)
    first = xhr_connect(base)
    random.seed(1234)
    second = xhr_connect(base)
    assert first != second
    for name in ("random", "getrandbits", "choice", "choices", "randint", "randbytes"):
        monkeypatch.setattr(random, name, lambda *a, **k: pytest.fail("used the random module"))
    assert SID.match(xhr_connect(base))


# -- limits ---------------------------------------------------------------------------------


def open_on(transport, base):
    """Open a session on ``transport``; returns (status, closer)."""
    if transport in ("xhr-polling", "jsonp-polling"):
        path = "/socket.io/%s//1305500000000/0" % transport
        status, _, _ = request(base, "GET", path)
        return status, lambda: None
    if transport in ("xhr-multipart", "htmlfile"):
        stream = HTTPStream(base, "GET", "/socket.io/%s//1305500000000" % transport)
        return stream.status, stream.close
    if transport == "websocket":
        ws = RFC6455Client(base, "/socket.io/websocket", headers={"Origin": PAGE_ORIGIN})
    else:
        ws = Hixie76Client(base, "/socket.io/flashsocket", origin=PAGE_ORIGIN)
    return ws.status, ws.close


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling", "xhr-multipart",
                                       "htmlfile", "websocket", "flashsocket"])
def test_a_new_session_beyond_max_sessions_gets_503(start, recorder, transport):
    router, base = start(max_sessions=2, session_expiry=30)
    closers = []
    try:
        for _ in range(2):
            status, closer = open_on("xhr-polling", base)
            assert status == 200
        status, closer = open_on(transport, base)
        closers.append(closer)
        assert status == 503
        assert router.session_count == 2
        assert recorder.count("open") == 2
    finally:
        for closer in closers:
            closer()


def test_a_closed_session_frees_its_place_under_max_sessions(start, recorder):
    router, base = start(max_sessions=1, session_expiry=30)
    peer = Peer(base)
    assert open_on("xhr-polling", base)[0] == 503
    peer.close()
    recorder.wait_for(lambda: recorder.count("close") == 1)
    assert open_on("xhr-polling", base)[0] == 200


# -- handlers -------------------------------------------------------------------------------


def test_a_handler_that_raises_is_logged_and_the_session_keeps_working(start, recorder, caplog):
    _, base = start()
    peer = Peer(base)
    try:
        with caplog.at_level(logging.ERROR, logger="geventio"):
            peer.send(encode("boom", "after"))
            assert peer.user_messages() == ["after"]
        [record] = [r for r in caplog.records if peer.sid in r.getMessage()]
        assert record.levelno == logging.ERROR
        assert "boom from on_message" in caplog.text  # the traceback is in the log
        peer.send(encode("still fine"))
        assert peer.user_messages() == ["still fine"]
        assert recorder.count("close") == 0
    finally:
        peer.close()


def test_a_handler_blocked_in_on_message_does_not_delay_other_sessions(start, recorder):
    _, base = start()
    slow, fast = Peer(base), Peer(base)
    try:
        slow.send(encode("block", "queued behind the block"))
        recorder.wait_for(lambda: ("blocked", slow.sid) in recorder.events)
        fast.send(encode("hello"))
        assert fast.user_messages() == ["hello"]
        assert ("unblocked", slow.sid) not in recorder.events  # still blocked meanwhile
        type(recorder.connections[0]).release.set()
        assert slow.user_messages(2) == ["block", "queued behind the block"]
    finally:
        slow.close()
        fast.close()


# -- the outbound queue bound ---------------------------------------------------------------


def test_the_outbound_bound_closes_a_polling_client_that_does_not_read(start, recorder, caplog):
    router, base = start(max_queued_messages=20, session_expiry=30)
    idle, reader = xhr_connect(base), xhr_connect(base)
    idle_conn, reader_conn = recorder.connections
    with caplog.at_level(logging.WARNING, logger="geventio"):
        for i in range(25):
            idle_conn.send("m%d" % i)
        for i in range(10):
            reader_conn.send("r%d" % i)
    recorder.wait_for(lambda: ("close", idle) in recorder.events)
    assert recorder.count("close") == 1
    [record] = [r for r in caplog.records if idle in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "queue" in record.getMessage()
    assert request(base, "GET", "/socket.io/xhr-polling/%s/1" % idle)[0] == 404
    assert xhr_poll(base, reader) == ["r%d" % i for i in range(10)]


def test_the_outbound_bound_closes_a_socket_client_that_does_not_read(start, recorder, caplog):
    router, base = start(max_queued_messages=50, heartbeat_interval=30)
    stalled, healthy = Peer(base), Peer(base)
    stalled_conn, healthy_conn = recorder.connections
    chunk = "x" * 65536
    try:
        with caplog.at_level(logging.WARNING, logger="geventio"):
            sent = 0
            while not stalled_conn.is_closed:
                stalled_conn.send(chunk)
                sent += 1
                assert sent < 5000, "the bound never closed the stalled client"
                gevent.sleep(0)  # let the writer run: it blocks once the socket is full
        recorder.wait_for(lambda: ("close", stalled.sid) in recorder.events)
        assert any(stalled.sid in r.getMessage() and "queue" in r.getMessage()
                   for r in caplog.records if r.levelno == logging.WARNING)
        healthy_conn.send("are you there")
        assert healthy.user_messages() == ["are you there"]
        assert ("close", healthy.sid) not in recorder.events
    finally:
        stalled.close()
        healthy.close()


# -- clean-up -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["websocket", "flashsocket", "xhr-multipart",
                                       "htmlfile", "xhr-polling"])
def test_every_greenlet_a_session_spawns_is_gone_after_it_closes(start, recorder, transport):
    router, base = start(session_expiry=0.3)
    gevent.sleep(0.1)
    before = live_greenlets()
    status, closer = open_on(transport, base)
    assert status == 200 or status == 101
    if transport == "xhr-polling":
        closer = None
    recorder.wait_for(lambda: recorder.connections)
    session = recorder.connections[0].session
    session.run(lambda: None)  # make sure the worker exists
    spawned = {session._worker} | set(session._greenlets)
    if transport in ("websocket", "flashsocket", "xhr-multipart", "htmlfile"):
        assert session._greenlets, "a streaming session runs its heartbeats"
    during = live_greenlets()
    assert spawned <= during
    if closer is not None:
        closer()  # the client goes away; xhr-polling simply stops polling and expires
    recorder.wait_for(lambda: recorder.count("close") == 1, timeout=10)
    # gone promptly: no timer or helper outlives the session by more than a moment
    recorder.wait_for(lambda: all(g.dead for g in spawned), timeout=1)
    recorder.wait_for(lambda: not (live_greenlets() - before), timeout=1)


# -- delivery -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", sorted(POLLING))
def test_messages_sent_between_polls_are_never_lost_or_reordered(start, recorder, transport):
    connect, poll = POLLING[transport]
    router, base = start(session_expiry=5)
    sid = connect(base)
    conn = recorder.connections[0]
    rng = random.Random(6)

    def sender(prefix, count):
        for i in range(count):
            conn.send("%s%d" % (prefix, i))
            if rng.random() < 0.5:
                gevent.sleep(rng.random() * 0.004)

    senders = [gevent.spawn(sender, "a", 300), gevent.spawn(sender, "b", 300)]
    received, polls = [], 0
    while polls < 20 or len(received) < 600:
        received += poll(base, sid)
        polls += 1
        assert polls < 500
    gevent.joinall(senders, raise_error=True)
    assert len(received) == 600
    assert [m for m in received if m[0] == "a"] == ["a%d" % i for i in range(300)]
    assert [m for m in received if m[0] == "b"] == ["b%d" % i for i in range(300)]


# -- rooms ----------------------------------------------------------------------------------


def test_router_send_to_a_room_skipping_one_member_reaches_exactly_the_others(start, recorder):
    router, base = start()
    peers = {name: Peer(base) for name in "abcd"}
    try:
        for name, room in zip("abcd", ["lobby", "lobby", "lobby", "kitchen"]):
            peers[name].send(encode("join:" + room))
            assert peers[name].user_messages() == ["join:" + room]
        conn = {c.session_id: c for c in recorder.connections}
        sender = conn[peers["a"].sid]
        assert router.send("hello lobby", to="lobby", skip=sender) == 2
        router.send("marker")  # to everyone: what arrives before it was addressed to them
        assert peers["b"].user_messages(2) == ["hello lobby", "marker"]
        assert peers["c"].user_messages(2) == ["hello lobby", "marker"]
        assert peers["a"].user_messages() == ["marker"]
        assert peers["d"].user_messages() == ["marker"]
    finally:
        for peer in peers.values():
            peer.close()


def test_an_idle_sessions_worker_greenlet_ends_and_a_new_job_starts_another(start, recorder,
                                                                            monkeypatch):
    monkeypatch.setattr(geventio.session, "WORKER_IDLE", 0.1)
    router, base = start(session_expiry=30)
    xhr_connect(base)
    session = recorder.connections[0].session
    done = []
    session.run(done.append, 1)
    recorder.wait_for(lambda: session._worker is None, timeout=2)
    session.run(done.append, 2)
    recorder.wait_for(lambda: done == [1, 2])


def test_a_worker_kept_busy_outlives_its_idle_interval(start, recorder, monkeypatch):
    monkeypatch.setattr(geventio.session, "WORKER_IDLE", 0.05)
    router, base = start(session_expiry=30)
    xhr_connect(base)
    session = recorder.connections[0].session
    done = []
    session.run(done.append, 0)
    worker = session._worker
    for i in range(1, 16):  # a job every 20 ms for 0.3 s: six idle intervals
        gevent.sleep(0.02)
        session.run(done.append, i)
        assert session._worker is worker
    recorder.wait_for(lambda: done == list(range(16)))
    recorder.wait_for(lambda: session._worker is None, timeout=2)


def test_session_ids_are_20_url_safe_characters_and_never_repeat():
    import re
    from geventio.session import new_session_id
    ids = [new_session_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{20}", i) for i in ids)


def test_a_forked_process_never_hands_out_its_parents_next_ids():
    import os
    from geventio.session import new_session_id
    new_session_id()  # the pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, new_session_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_id != new_session_id()


def test_a_job_waiting_for_room_while_the_worker_goes_idle_still_runs(start, recorder,
                                                                       monkeypatch):
    # max_pending_messages=1: the worker's idle marker, queued while a long job runs, fills
    # the inbox, so the next job waits for room; the worker then takes the marker.
    monkeypatch.setattr(geventio.session, "WORKER_IDLE", 0.05)
    router, base = start(session_expiry=30, max_pending_messages=1)
    xhr_connect(base)
    session = recorder.connections[0].session
    done = []
    session.run(gevent.sleep, 0.3)  # a job longer than two idle intervals
    gevent.sleep(0.15)
    assert session.run(done.append, 1)  # waits for room in the inbox
    recorder.wait_for(lambda: done == [1], timeout=2)


def test_run_in_the_event_loop_with_a_full_inbox_raises_instead_of_spinning(start, recorder):
    router, base = start(session_expiry=30, max_pending_messages=1)
    xhr_connect(base)
    session = recorder.connections[0].session
    session.run(gevent.sleep, 0.3)  # the worker is busy...
    session.run(gevent.sleep, 0)    # ...and the inbox is full
    outcome = []

    def in_the_hub():
        try:
            session.run(outcome.append, "ran")
        except RuntimeError as exc:
            outcome.append(exc)

    gevent.get_hub().loop.run_callback(in_the_hub)
    gevent.sleep(0.05)
    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError)
