"""SocketConnection.handler_context: every handler call of a connection that declares one
runs inside it, for modern clients (TestClient) and 0.6 clients (at the wire); one that
declares none is called bare."""
import contextlib
import time

import gevent

import geventio
from geventio.testing import TestClient
from helpers.server import make_application, serve
from helpers.wire import post, request
from helpers.wire06 import decode, encode

#: what ran, and whether it ran inside a handler context: (name, inside)
SEEN = []
#: how many handler contexts are open right now
DEPTH = [0]


def note(name):
    SEEN.append((name, DEPTH[0]))


class Wrapped(geventio.SocketConnection):
    @contextlib.contextmanager
    def handler_context(self):
        DEPTH[0] += 1
        try:
            yield
        finally:
            DEPTH[0] -= 1

    def on_open(self, request):
        note("on_open")

    @geventio.event
    def ping(self):
        note("ping")
        return "pong"

    @geventio.event
    def fail(self):
        raise ValueError("boom")

    @geventio.event
    def ask(self):
        self.emit("question", callback=lambda answer: note("callback %s" % answer))

    def on_message(self, message):
        note("on_message")
        if message == "raise":
            raise ValueError("boom")
        self.send("echo " + message)

    def on_error(self, exc, event, args):
        note("on_error %s" % event)

    def on_close(self):
        note("on_close")


def middleware(conn, request, auth):
    note("middleware")


def wrapped_router(**settings):
    router = geventio.get_router(Wrapped, settings)
    router.use(middleware)
    return router


def setup_function():
    del SEEN[:]


def test_middlewares_and_on_open_run_inside_one_handler_context():
    TestClient(wrapped_router())
    assert SEEN == [("middleware", 1), ("on_open", 1)]


def test_events_and_their_acks_run_inside_the_handler_context():
    client = TestClient(wrapped_router())
    assert client.call("ping") == "pong"
    assert SEEN[-1] == ("ping", 1)


def test_on_error_runs_inside_the_handler_context_of_the_failed_event():
    client = TestClient(wrapped_router())
    client.emit("fail")
    assert SEEN[-1] == ("on_error fail", 1)


def test_a_modern_message_runs_inside_the_handler_context():
    client = TestClient(wrapped_router())
    client.send("hi")
    assert SEEN[-1] == ("on_message", 1)


def test_emit_callbacks_run_inside_the_handler_context():
    client = TestClient(wrapped_router())
    client.on("question", lambda: 42)
    client.emit("ask")
    client.settle()
    assert SEEN[-1] == ("callback 42", 1)


def test_on_close_runs_inside_the_handler_context_on_disconnect():
    TestClient(wrapped_router()).disconnect()
    assert SEEN[-1] == ("on_close", 1)


def test_on_close_runs_inside_the_handler_context_when_the_session_closes():
    client = TestClient(wrapped_router())
    client.close()
    deadline = time.monotonic() + 5
    while SEEN[-1][0] != "on_close" and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert SEEN[-1] == ("on_close", 1)


def test_a_handler_context_that_fails_at_connect_refuses_the_client(caplog):
    class Broken(geventio.SocketConnection):
        @contextlib.contextmanager
        def handler_context(self):
            raise RuntimeError("no context today")
            yield  # pragma: no cover

        def on_open(self, request):
            note("on_open")

    client = TestClient(geventio.get_router(Broken))
    assert client.refusal == {"message": "Internal server error"}
    assert SEEN == []
    assert "the handler context of / failed" in caplog.text


def test_a_connection_without_handler_context_is_called_bare():
    class Bare(geventio.SocketConnection):
        @geventio.event
        def ping(self):
            note("ping")

    assert Bare.handler_context is None
    TestClient(geventio.get_router(Bare)).call("ping")
    assert SEEN == [("ping", 0)]


# -- socket.io 0.6 ------------------------------------------------------------------------

def _poll(base, sid):
    status, _, body = request(base, "GET", "/socket.io/xhr-polling/%s/%d" % (
        sid, int(time.time() * 1000)))
    assert status == 200
    return decode(body.decode())


def test_a_06_clients_handlers_run_inside_the_handler_context():
    router = wrapped_router(xhr_polling_timeout=0.3)
    with serve(make_application([router.route()])) as base:
        status, _, body = request(base, "GET", "/socket.io/xhr-polling//1")
        assert status == 200
        sid = decode(body.decode())[0]
        post(base, "/socket.io/xhr-polling/%s/send" % sid, encode("hi", "raise"))
        assert "echo hi" in _poll(base, sid)
    deadline = time.monotonic() + 5
    while ("on_close", 1) not in SEEN and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert SEEN == [("middleware", 1), ("on_open", 1), ("on_message", 1),
                    ("on_message", 1), ("on_error message", 1), ("on_close", 1)]
