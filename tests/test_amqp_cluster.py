"""Three geventio servers on RabbitMQ (AmqpAdapter, 127.0.0.1:5672, guest/guest): every
router operation reaches the clients of the others, as with Redis; the servers count each
other by heartbeats; a connection closed by the broker comes back without losing later
broadcasts; a geventio-serve process (``--message-queue amqp://``) joins the cluster and,
killed, drops out of ``server_count`` after the heartbeat timeout. Each test has its own
exchange (deleted afterwards), so runs never see each other."""
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid

import gevent
import gevent.event
import pytest

import geventio
from geventio.adapters.remote import RemoteConnection
from helpers import REPO_ROOT
from helpers.process import free_port, geventio_serve, running
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient
from helpers.wire06 import Peer

pytestmark = pytest.mark.slow

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
#: quick heartbeats, so that a member that stops beating leaves within seconds
BEAT = {"heartbeat_interval": 0.3, "heartbeat_timeout": 1.5}
APP = os.path.join(REPO_ROOT, "tests", "apps", "cluster_member.py") + ":application"


class Chat(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.data["name"] = request.args.get("name", "anon")

    @geventio.event("join")
    def on_join(self, room):
        self.join(room)
        return "joined"

    def on_message(self, message):
        pass


class Admin(Chat):
    pass


class Member:
    """One geventio server of the cluster: its router, adapter and URL."""

    def __init__(self, router, base):
        self.router = router
        self.adapter = router.adapter
        self.base = base

    def client(self, **kwargs):
        return SioClient(self.base, **kwargs)


@pytest.fixture
def exchange():
    """An exchange name of this test's own; deleted afterwards."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        pytest.skip("needs RabbitMQ on 127.0.0.1:5672")
    name = "geventio-test-" + uuid.uuid4().hex[:12]
    yield name
    import kombu
    with kombu.Connection(BROKER) as conn:
        kombu.Exchange(name, type="direct", channel=conn.channel()).delete()


@contextlib.contextmanager
def member(exchange_name, **options):
    adapter = geventio.AmqpAdapter(BROKER, exchange=exchange_name, **dict(BEAT, **options))
    router = geventio.get_router(Chat, namespaces={"/admin": Admin}, adapter=adapter)
    assert adapter.wait_ready(5)
    with serve(make_application([router.route()])) as base:
        try:
            yield Member(router, base)
        finally:
            router.close()


def counted(router, n, timeout=5.0):
    """Wait until ``router`` counts ``n`` servers; True if it did."""
    deadline = time.monotonic() + timeout
    while router.server_count() != n:
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.05)
    return True


@pytest.fixture
def cluster(exchange):
    with member(exchange) as a, member(exchange) as b, member(exchange) as c:
        assert all(counted(m.router, 3) for m in (a, b, c))
        yield a, b, c


def joined(client, room):
    client.emit("join", room)
    gevent.sleep(0.1)


# -- broadcasts ------------------------------------------------------------------------------

def test_an_emit_reaches_the_clients_of_every_server(cluster):
    a, b, c = cluster
    with a.client() as ca, b.client() as cb, c.client() as cc:
        assert a.router.emit("hello", "world", 1, {"k": [2.5, None]}) == 1
        for client in (ca, cb, cc):
            assert client.wait_for("hello") == [["hello", "world", 1, {"k": [2.5, None]}]]


def test_binary_arrives_as_binary_on_the_other_servers(cluster):
    a, b, c = cluster
    with b.client() as cb, c.client() as cc:
        a.router.emit("bin", b"\x00\x01\xff", {"nested": b"hi"})
        for client in (cb, cc):
            assert client.wait_for("bin") == [["bin", b"\x00\x01\xff", {"nested": b"hi"}]]


def test_a_local_emit_stays_in_its_process(cluster):
    a, b, _ = cluster
    with a.client() as ca, b.client() as cb:
        a.router.emit("only-here", local=True)
        ca.wait_for("only-here")
        assert cb.nothing("only-here")


def test_send_reaches_other_servers_as_message_events(cluster):
    a, _, c = cluster
    with c.client() as cc:
        a.router.send(["one", {"two": 2}])
        assert cc.wait_for("message", 2) == [["message", "one"], ["message", {"two": 2}]]


def test_rooms_skips_and_socket_ids_hold_across_servers(cluster):
    a, b, c = cluster
    with b.client() as in_room, c.client() as outside, c.client() as quiet, \
            a.client() as local:
        joined(in_room, "red")
        joined(quiet, "quiet")
        a.router.emit("r", 1, to="red")
        in_room.wait_for("r")
        assert outside.nothing("r")
        a.router.emit("s", skip=["quiet", a.router.connections()[0]])
        in_room.wait_for("s")
        outside.wait_for("s")
        assert quiet.nothing("s") and local.nothing("s", 0)
        a.router.emit("direct", 7, to=outside.sid)
        assert outside.wait_for("direct") == [["direct", 7]]
        assert in_room.nothing("direct")


def test_namespaces_stay_apart_across_servers(cluster):
    a, b, _ = cluster
    with b.client(namespace="/admin") as admin, b.client() as main:
        a.router.emit("adm", "x", namespace="/admin")
        assert admin.wait_for("adm") == [["adm", "x"]]
        assert main.nothing("adm")


def test_a_broadcast_reaches_0_6_and_2_x_clients_of_another_server(cluster):
    a, b, _ = cluster
    peer = Peer(b.base, origin=None)
    try:
        with b.client(eio=3) as v2:
            gevent.sleep(0.1)
            a.router.send("plain")
            assert v2.wait_for("message") == [["message", "plain"]]
            assert peer.user_messages(1) == ["plain"]
    finally:
        peer.close()


def test_500_broadcasts_arrive_in_order_on_the_other_servers(cluster):
    a, b, c = cluster
    with b.client() as cb, c.client() as cc:
        for i in range(500):
            a.router.emit("n", i)
        for client in (cb, cc):
            got = client.wait_for("n", 500, timeout=20)
            assert [e[1] for e in got] == list(range(500))


# -- acknowledgements ------------------------------------------------------------------------

def test_call_gathers_the_acks_of_every_client_of_every_server(cluster):
    a, b, c = cluster
    with a.client(ack="from-a") as _ca, b.client(ack="from-b") as _cb, \
            c.client(ack="from-c") as _cc:
        assert sorted(a.router.call("ask", 1, timeout=5)) == ["from-a", "from-b", "from-c"]


def test_call_raises_timeout_with_the_acks_that_came(cluster):
    a, b, _ = cluster

    class Silent(SioClient):
        def send_packet(self, packet):
            if packet.type != 3:  # never acknowledges
                super().send_packet(packet)

    with b.client(ack="yes") as _cb, Silent(a.base) as _silent:
        with pytest.raises(geventio.TimeoutError) as failure:
            a.router.call("ask", timeout=1)
        assert failure.value.responses == ["yes"]


# -- requests --------------------------------------------------------------------------------

def test_server_count_counts_every_member_by_heartbeats(cluster):
    a, b, c = cluster
    assert a.router.server_count() == 3 and b.router.server_count("/admin") == 3
    gevent.sleep(BEAT["heartbeat_timeout"] * 2)  # still beating: still counted
    assert c.router.server_count() == 3


def test_fetch_connections_lists_remote_connections_with_rooms_and_data(cluster):
    a, b, c = cluster
    with a.client() as ca, b.client() as cb, c.client() as cc:
        joined(cb, "blue")
        found = {conn.session_id: conn for conn in a.router.fetch_connections()}
        assert set(found) == {ca.sid, cb.sid, cc.sid}
        assert isinstance(found[ca.sid], geventio.SocketConnection)
        remote = found[cb.sid]
        assert isinstance(remote, RemoteConnection)
        assert remote.rooms == {cb.sid, "blue"} and remote.data == {"name": "anon"}
        assert [conn.session_id for conn in a.router.fetch_connections("blue")] == [cb.sid]


def test_a_remote_connection_acts_where_its_client_lives(cluster):
    a, b, _ = cluster
    with b.client() as cb:
        [remote] = [conn for conn in a.router.fetch_connections() if conn.session_id == cb.sid]
        remote.emit("to-you", 1)
        assert cb.wait_for("to-you") == [["to-you", 1]]
        remote.join("green")
        gevent.sleep(0.2)
        assert b.router.connections("green")[0].session_id == cb.sid
        remote.close()
        cb.disconnected.wait(5)
        assert ["$disconnect"] in cb.events


def test_join_leave_and_disconnect_act_on_every_server(cluster):
    a, b, c = cluster
    with b.client() as cb, c.client() as cc:
        a.router.join("all-of-us")
        gevent.sleep(0.2)
        assert len(b.router.connections("all-of-us")) == len(c.router.connections("all-of-us")) == 1
        a.router.leave("all-of-us", to=cb.sid)
        gevent.sleep(0.2)
        assert b.router.connections("all-of-us") == [] and c.router.connections("all-of-us")
        a.router.disconnect(to=cb.sid)
        cb.disconnected.wait(5)
        assert ["$disconnect"] in cb.events and not cc.disconnected.is_set()


def test_all_rooms_joins_the_rooms_of_every_server(cluster):
    a, b, c = cluster
    with a.client() as ca, b.client() as cb, c.client() as cc:
        joined(ca, "ra")
        joined(cb, "rb")
        joined(cc, "rc")
        assert a.router.all_rooms() == {ca.sid, cb.sid, cc.sid, "ra", "rb", "rc"}


def test_server_side_emit_runs_the_other_servers_handlers_and_returns_their_answers(cluster):
    a, b, c = cluster
    seen = []
    for name, m in (("b", b), ("c", c)):
        m.router.server_event("ping")(
            lambda *args, name=name: seen.append((name, args)) or "pong-" + name)
    answers = gevent.event.AsyncResult()
    a.router.server_side_emit("ping", 1, b"\x02", callback=answers.set)
    assert sorted(answers.get(timeout=5)) == ["pong-b", "pong-c"]
    assert sorted(seen) == [("b", (1, b"\x02")), ("c", (1, b"\x02"))]


# -- membership and failures -----------------------------------------------------------------

def test_a_closed_member_leaves_and_one_that_stops_beating_drops_out(exchange):
    with member(exchange) as a, member(exchange) as b:
        assert counted(a.router, 2)
        with member(exchange) as _c:
            assert counted(a.router, 3)
        assert counted(a.router, 2, timeout=1)  # ADAPTER_CLOSE: at once
        with member(exchange, heartbeat_interval=60) as silent:
            assert counted(b.router, 3)  # its INITIAL_HEARTBEAT, then silence
            assert counted(b.router, 2, timeout=BEAT["heartbeat_timeout"] + 2)
            assert silent.router.server_count() == 3  # it still hears the others


def close_from_broker(name):
    """Close, from RabbitMQ's side, every connection whose client-provided name has
    ``name``; return how many."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "--no-table-headers",
                             "pid", "client_properties"], capture_output=True, text=True,
                            timeout=30, check=True).stdout
    pids = [line.split("\t", 1)[0] for line in listed.splitlines() if name in line]
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test"],
                       capture_output=True, timeout=30, check=True)
    return len(pids)


def test_connections_closed_by_the_broker_recover_without_losing_later_broadcasts(cluster):
    a, b, c = cluster
    with a.client(ack="a") as ca, b.client(ack="b") as cb, c.client(ack="c") as cc:
        assert close_from_broker(b.adapter.connection_name) == 2  # consumer and publisher
        deadline = time.monotonic() + 10
        while b.adapter.connections < 2:  # the queue and its bindings declared again
            assert time.monotonic() < deadline, "b's consumer did not reconnect"
            gevent.sleep(0.05)
        b.router.emit("from-b", 1)  # the publisher reconnects for it
        a.router.emit("from-a", 2)
        for client in (ca, cb, cc):
            assert client.wait_for("from-b", timeout=10) == [["from-b", 1]]
            assert client.wait_for("from-a") == [["from-a", 2]]
        assert all(counted(m.router, 3) for m in (a, b, c))
        assert sorted(b.router.call("ask", timeout=5)) == ["a", "b", "c"]


# -- a geventio-serve process ----------------------------------------------------------------

def test_a_geventio_serve_process_joins_and_drops_out_once_killed(cluster, exchange):
    a, b, _ = cluster
    port = free_port()
    url = BROKER + "?exchange=%s&heartbeat_interval=0.3&heartbeat_timeout=1.5" % exchange
    cmd = geventio_serve() + [APP, "--host", "127.0.0.1", "--port", str(port),
                              "--no-flash-policy", "--log-level", "warning",
                              "--message-queue", url]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    for key in ("GEVENTIO_REDIS_URL", "GEVENTIO_REDIS_KEY"):
        env.pop(key, None)
    with running(cmd, port, env=env) as (child, child_base, _):
        assert counted(a.router, 4, timeout=10), child.output()
        with SioClient(child_base, ack="c") as there, a.client(ack="a") as here, \
                b.client(ack="b") as _cb:
            there.emit("burst", 100)
            assert [e[1] for e in here.wait_for("n", 100, timeout=20)] == list(range(100))
            a.router.emit("bin", b"\x00\xff")
            assert there.wait_for("bin") == [["bin", b"\x00\xff"]], child.output()
            assert sorted(there.call("call", "ask")[0]) == ["a", "b", "c"]
            answers = gevent.event.AsyncResult()
            a.router.server_side_emit("whoami", callback=answers.set)
            got = answers.get(timeout=5)  # the in-process members have no handler
            assert sorted(got, key=str) == [None, None, "geventio:%d" % child.pid]
        child.proc.kill()  # no ADAPTER_CLOSE: only its silence tells
        child.proc.wait(5)
        assert counted(a.router, 3, timeout=BEAT["heartbeat_timeout"] + 2)


def test_get_router_takes_an_amqp_url(exchange):
    router = geventio.get_router(
        Chat, adapter=BROKER + "?exchange=%s&heartbeat_timeout=3" % exchange)
    try:
        assert isinstance(router.adapter, geventio.AmqpAdapter)
        assert router.adapter.exchange == exchange and router.adapter.heartbeat_timeout == 3
        assert router.adapter.wait_ready(5) and router.server_count() == 1
    finally:
        router.close()


UNPATCHED = """
import sys, geventio
try:
    geventio.get_router(geventio.SocketConnection, adapter=geventio.AmqpAdapter(sys.argv[1]))
except RuntimeError as exc:
    print("refused:", exc)
"""


def test_without_monkey_patching_the_adapter_refuses_with_a_clear_error():
    out = subprocess.run([sys.executable, "-c", UNPATCHED, BROKER], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert "refused:" in out.stdout and "monkey" in out.stdout, (out.stdout, out.stderr)
