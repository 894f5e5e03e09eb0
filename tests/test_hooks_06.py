"""The hooks seen by socket.io 0.6 clients (spoken at the wire, as the client's transports
do): a middleware refusal ends the session as a refused on_open does, and a raising
on_message reaches on_error."""
import gevent

import geventio
from helpers.server import make_application, serve
from helpers.wire import post, request
from helpers.wire06 import RFC6455Client, decode, encode

FAST = {"xhr_polling_timeout": 0.3, "session_expiry": 0.4, "session_check_interval": 0.1}


class Recording(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        self.router.seen.append(("open", dict(self.data), auth))

    def on_message(self, message):
        if message == "raise":
            raise ValueError("bad")
        self.send("echo " + message)

    def on_error(self, exc, event, args):
        self.router.seen.append(("error", type(exc).__name__, event, list(args)))
        self.send("failed")

    def on_close(self):
        self.router.seen.append(("close",))


def router_with(middleware):
    router = geventio.get_router(Recording, FAST)
    router.seen = []
    router.use(middleware)
    return router


def refuse(conn, request, auth):
    raise geventio.ConnectionRefused("no")


def mark(conn, request, auth):
    conn.data["marked"] = (conn.namespace, dict(auth))


def test_a_middleware_refusal_answers_the_0_6_poll_403_and_runs_no_handler():
    router = router_with(refuse)
    with serve(make_application([router.route()])) as base:
        status, _, _ = request(base, "GET", "/socket.io/xhr-polling//1")
        assert status == 403
        gevent.sleep(0.1)
    assert router.seen == [] and router.session_count == 0


def test_a_middleware_refusal_closes_the_0_6_websocket_and_runs_no_handler():
    router = router_with(refuse)
    with serve(make_application([router.route()])) as base:
        ws = RFC6455Client(base, "/socket.io/websocket")
        try:
            assert ws.status == 101
            assert ws.recv(5) is None and ws.close_code == 1008
        finally:
            ws.close()
    assert router.seen == [] and router.session_count == 0


def test_a_0_6_client_passes_the_middleware_before_on_open_with_empty_auth():
    router = router_with(mark)
    with serve(make_application([router.route()])) as base:
        status, _, _ = request(base, "GET", "/socket.io/xhr-polling//1")
        assert status == 200
    assert router.seen[0] == ("open", {"marked": ("/", {})}, {})


def test_a_raising_on_message_of_a_0_6_client_reaches_on_error_and_the_session_goes_on():
    router = router_with(mark)
    with serve(make_application([router.route()])) as base:
        _, _, body = request(base, "GET", "/socket.io/xhr-polling//1")
        sid = decode(body.decode())[0]
        post(base, "/socket.io/xhr-polling/%s/send" % sid, encode("raise", "hi"))
        messages = []
        for stamp in range(2, 6):
            if len(messages) >= 2:
                break
            _, _, body = request(base, "GET", "/socket.io/xhr-polling/%s/%d" % (sid, stamp))
            messages += decode(body.decode())
        assert messages == ["failed", "echo hi"]
    assert ("error", "ValueError", "message", ["raise"]) in router.seen
