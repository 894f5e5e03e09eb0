"""geventio.testing.TestClient: an in-process client through the real session and codecs."""
import gevent
import pytest

import geventio
from geventio.testing import TestClient

CLOSED = []


class Chat(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        if auth.get("token") == "bad":
            raise geventio.ConnectionRefused("not allowed", {"code": 7})
        self.name = request.headers.get("x-name") or request.args.get("name")
        self.join("lobby")

    def on_message(self, message):
        self.send("echo: %s" % message)

    @geventio.event
    def hello(self):
        self.emit("welcome", self.name, self.auth.get("token"))

    @geventio.event
    def add(self, a, b):
        return a + b

    @geventio.event
    def pair(self):
        return "a", "b"

    @geventio.event
    def blob(self, data):
        return data[::-1]

    @geventio.event
    def shout(self, text):
        self.router.emit("shouted", self.name, text, to="lobby", skip=self)

    @geventio.event
    def ask_client(self, question, timeout=2):
        return self.call("question", question, timeout=timeout)

    @geventio.event
    def ask_with_callback(self):
        self.emit("question", "cb?", callback=lambda *ack: self.emit("got", *ack))

    @geventio.event
    def kick_me(self):
        self.close()

    @geventio.event
    def slow(self):
        gevent.sleep(0.05)
        self.emit("done")

    def on_close(self):
        CLOSED.append(self.name)


class Admin(geventio.SocketConnection):
    @geventio.event
    def whoami(self):
        return self.namespace


@pytest.fixture
def router():
    CLOSED.clear()
    r = geventio.get_router(Chat, namespaces={"/admin": Admin})
    yield r
    r.close()


def test_a_client_connects_and_gets_a_socketio_sid(router):
    client = TestClient(router)
    assert client.connected
    assert client.sid and len(router.connections()) == 1


def test_emit_runs_the_handler_before_it_returns(router):
    client = TestClient(router, headers={"X-Name": "ann"}, auth={"token": "t"})
    client.emit("hello")
    assert client.received() == [("welcome", "ann", "t")]


def test_received_clears_what_it_returns(router):
    client = TestClient(router)
    client.emit("hello")
    client.received()
    assert client.received() == []


def test_send_reaches_on_message_and_plain_messages_come_back_as_message(router):
    client = TestClient(router)
    client.send("hi")
    assert client.received() == [("message", "echo: hi")]


def test_call_returns_the_handlers_return_value_as_its_ack(router):
    client = TestClient(router)
    assert client.call("add", 2, 3) == 5


def test_call_returns_several_ack_arguments_as_a_tuple(router):
    assert TestClient(router).call("pair") == ("a", "b")


def test_binary_arguments_travel_as_attachments_both_ways(router):
    assert TestClient(router).call("blob", b"\x00\x01\x02") == b"\x02\x01\x00"


def test_call_of_an_event_with_no_handler_times_out(router):
    with pytest.raises(geventio.TimeoutError):
        TestClient(router).call("nobody", timeout=0.2)


def test_the_servers_call_is_acked_by_the_clients_handler(router):
    client = TestClient(router)
    client.on("question", lambda q: q.upper())
    assert client.call("ask_client", "why") == "WHY"
    assert client.received() == [("question", "why")]


def test_on_works_as_a_decorator(router):
    client = TestClient(router)

    @client.on("question")
    def answer(q):
        return 1, 2

    assert client.call("ask_client", "?") == (1, 2)


def test_the_servers_call_is_acked_automatically_without_a_handler(router):
    assert TestClient(router).call("ask_client", "?") is None


def test_without_auto_ack_the_servers_call_times_out(router):
    client = TestClient(router, auto_ack=False)
    with pytest.raises(geventio.TimeoutError):  # the handler's own call raised: no ack
        client.call("ask_client", "?", 0.1, timeout=1)
    assert client.received() == [("question", "?")]


def test_emit_with_callback_gets_the_clients_ack(router):
    client = TestClient(router)
    client.on("question", lambda q: "yes")
    client.emit("ask_with_callback")
    assert client.received(wait=1) == [("question", "cb?"), ("got", "yes")]


def test_received_can_wait_for_what_a_handler_sends_later(router):
    client = TestClient(router)
    client.emit("slow")
    assert client.received(wait=2) == [("done",)]


def test_broadcasts_reach_the_other_clients_in_the_room(router):
    ann = TestClient(router, headers={"X-Name": "ann"})
    bob = TestClient(router, headers={"X-Name": "bob"})
    ann.emit("shout", "hi all")
    assert bob.received() == [("shouted", "ann", "hi all")]
    assert ann.received() == []


def test_router_emit_from_the_test_reaches_every_client(router):
    clients = [TestClient(router) for _ in range(3)]
    router.emit("news", 1, to="lobby")
    assert [c.received() for c in clients] == [[("news", 1)]] * 3


def test_query_arguments_reach_the_request(router):
    client = TestClient(router, query={"name": "carl"})
    client.emit("hello")
    assert client.received() == [("welcome", "carl", None)]


def test_a_refused_connection_is_not_connected_and_keeps_the_error(router):
    client = TestClient(router, auth={"token": "bad"})
    assert not client.connected
    assert client.refusal == {"message": "not allowed", "data": {"code": 7}}


def test_a_refused_connection_leaves_no_session(router):
    TestClient(router, auth={"token": "bad"})
    gevent.sleep(0.01)
    assert router.session_count == 0


def test_emitting_on_a_refused_connection_raises(router):
    client = TestClient(router, auth={"token": "bad"})
    with pytest.raises(geventio.ConnectionClosed):
        client.emit("hello")


def test_an_unknown_namespace_is_refused(router):
    client = TestClient(router, namespace="/nope")
    assert client.refusal == {"message": "Invalid namespace"}


def test_a_client_of_another_namespace_reaches_its_handler(router):
    assert TestClient(router, namespace="/admin").call("whoami") == "/admin"


def test_disconnect_runs_on_close_before_it_returns(router):
    client = TestClient(router, headers={"X-Name": "dee"})
    client.disconnect()
    assert CLOSED == ["dee"] and not client.connected
    assert router.session_count == 0


def test_a_server_side_disconnect_is_seen_by_the_client(router):
    client = TestClient(router, headers={"X-Name": "eve"})
    client.emit("kick_me")
    assert not client.connected
    assert CLOSED == ["eve"]


def test_a_pending_call_fails_when_the_server_disconnects(router):
    client = TestClient(router)
    waiting = gevent.spawn(client.call, "slow")
    gevent.sleep(0)
    router.disconnect()
    with pytest.raises(geventio.ConnectionClosed):
        waiting.get(timeout=2)


def test_an_application_is_served_through_its_router(router):
    app = geventio.Application([router.route()])
    assert TestClient(app).call("add", 1, 1) == 2


def test_an_application_with_several_routers_needs_a_resource(router):
    other = geventio.get_router(Admin, resource="other")
    app = geventio.Application([router.route(), other.route()])
    with pytest.raises(ValueError):
        TestClient(app)
    assert TestClient(app, resource="other").call("whoami") == "/"


def test_the_client_is_a_context_manager_that_disconnects(router):
    with TestClient(router, headers={"X-Name": "fay"}) as client:
        assert client.connected
    assert CLOSED == ["fay"]


def test_heartbeats_are_answered_so_an_idle_client_stays_connected():
    r = geventio.get_router(Chat, {"ping_interval": 0.05, "ping_timeout": 0.05})
    client = TestClient(r)
    gevent.sleep(0.3)
    assert client.connected and r.session_count == 1
    r.close()


def test_pytest_does_not_collect_the_class():
    assert TestClient.__test__ is False


USERS_TEST = '''
import geventio
from geventio.testing import TestClient


class Echo(geventio.SocketConnection):
    @geventio.event
    def echo(self, text):
        self.emit("heard", text)
        return text.upper()


def test_echo():
    client = TestClient(geventio.get_router(Echo))
    assert client.call("echo", "hi") == "HI"
    assert client.received() == [("heard", "hi")]
    client.disconnect()


def test_the_process_is_not_monkey_patched():
    import socket
    from gevent import monkey
    assert not monkey.is_module_patched("socket")
'''


@pytest.mark.slow
def test_a_users_project_uses_it_from_pytest_without_patching_or_geventio_helpers(tmp_path):
    import os
    import subprocess
    import sys

    from helpers import REPO_ROOT
    (tmp_path / "test_users_handlers.py").write_text(USERS_TEST)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-c", os.devnull, "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
