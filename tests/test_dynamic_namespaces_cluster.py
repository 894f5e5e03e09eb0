"""Namespaces given by pattern (node's dynamic namespaces) across real processes, with each
cluster adapter (Redis pub/sub, Redis streams, AMQP): a geventio-serve child
(tests/apps/dynamic_member.py) and a router in the test process serve ``/room-<n>``.

A process listens to such a namespace while it has a client there (or while a request of
its own about it waits for answers): a broadcast made anywhere reaches the clients of every
process; rooms, fetches, disconnects and server-side events cross; a process without a
client there still gets answers to its requests."""
import os
import socket
import time
import uuid

import gevent
import gevent.event
import pytest

import geventio
from apps.dynamic_member import ROOMS, Lobby, Room, make_adapter
from geventio.adapters.remote import RemoteConnection
from helpers import REPO_ROOT
from helpers.process import free_port, geventio_serve, running
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient

pytestmark = pytest.mark.slow

APP = os.path.join(REPO_ROOT, "tests", "apps", "dynamic_member.py") + ":application"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(params=["redis", "streams", "amqp"])
def kind(request):
    return request.param


@pytest.fixture
def where(kind, redis_server):
    """(url, key) for this test's cluster: a key, stream or exchange of its own."""
    key = "geventio-test-" + uuid.uuid4().hex[:12]
    if kind != "amqp":
        yield redis_server.url, key
        return
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        pytest.skip("needs RabbitMQ on 127.0.0.1:5672")
    yield BROKER, key
    import kombu
    with kombu.Connection(BROKER) as conn:
        kombu.Exchange(key, type="direct", channel=conn.channel()).delete()


def ready(adapter):
    wait = getattr(adapter, "wait_ready", None) or adapter.wait_subscribed
    assert wait(5)


@pytest.fixture
def two_processes(kind, where):
    """(router here, base here, base of the child, child)."""
    url, key = where
    port = free_port()
    env = dict(os.environ, GEVENTIO_ADAPTER=kind, GEVENTIO_URL=url, GEVENTIO_KEY=key,
               PYTHONPATH=REPO_ROOT)
    cmd = geventio_serve() + [APP, "--host", "127.0.0.1", "--port", str(port),
                              "--no-flash-policy", "--log-level", "warning"]
    router = geventio.get_router(Lobby, namespaces={ROOMS: Room},
                                 adapter=make_adapter(kind, url, key))
    ready(router.adapter)
    with running(cmd, port, env=env) as (child, child_base, _):
        with serve(make_application([router.route()])) as base:
            assert eventually(lambda: router.server_count() == 2)
            yield router, base, child_base, child
    router.close()


def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.05)
    return True


def listening(emit, client, timeout=10.0):
    """Emit "probe" (``emit()``) until ``client`` gets one: the namespace is subscribed
    (or bound) where the client is."""
    deadline = time.monotonic() + timeout
    while not client.named("probe"):
        assert time.monotonic() < deadline, "the namespace never reached %s" % client.sid
        emit()
        gevent.sleep(0.1)


def test_an_emit_from_a_process_without_the_namespace_reaches_its_clients_elsewhere(
        two_processes):
    router, base, child_base, child = two_processes
    with SioClient(child_base, namespace="/room-7") as there:
        listening(lambda: router.emit("probe", namespace="/room-7"), there)
        assert router.emit("hello", b"\x00\xff", {"n": 7}, namespace="/room-7") == 0
        assert there.wait_for("hello") == [["hello", b"\x00\xff", {"n": 7}]], child.output()


def test_an_emit_made_in_the_other_process_reaches_a_client_here(two_processes):
    router, base, child_base, _ = two_processes
    with SioClient(base, namespace="/room-7") as here, SioClient(child_base) as lobby:
        listening(lambda: lobby.emit("emit", "/room-7", "probe"), here)
        assert lobby.call("emit", "/room-7", "news", 1) == ["sent"]
        assert here.wait_for("news") == [["news", 1]]


def test_a_namespace_only_reaches_its_own_clients(two_processes):
    router, base, child_base, _ = two_processes
    with SioClient(child_base, namespace="/room-7") as seven, \
            SioClient(child_base, namespace="/room-8") as eight:
        listening(lambda: router.emit("probe", namespace="/room-7"), seven)
        router.emit("only7", namespace="/room-7")
        assert seven.wait_for("only7") == [["only7"]]
        assert eight.nothing("only7") and eight.nothing("probe", 0)


def test_rooms_fetch_join_and_disconnect_cross_processes(two_processes):
    router, base, child_base, _ = two_processes
    with SioClient(base, namespace="/room-7") as here, \
            SioClient(child_base, namespace="/room-7") as there:
        listening(lambda: router.emit("probe", namespace="/room-7"), there)
        assert there.call("join", "red") == ["joined"]
        found = {c.session_id: c for c in router.fetch_connections(namespace="/room-7")}
        assert sorted(found) == sorted([here.sid, there.sid])
        remote = found[there.sid]
        assert isinstance(remote, RemoteConnection) and remote.namespace == "/room-7"
        assert remote.rooms == {there.sid, "red"}
        assert [c.session_id for c in router.fetch_connections("red", "/room-7")] == [there.sid]
        router.join("vip", to=there.sid, namespace="/room-7")
        assert eventually(lambda: "vip" in router.all_rooms("/room-7"))
        router.emit("for-vip", to="vip", namespace="/room-7")
        assert there.wait_for("for-vip") == [["for-vip"]]
        assert here.nothing("for-vip")
        router.disconnect(to=there.sid, namespace="/room-7")
        assert there.disconnected.wait(5) and there.named("$disconnect")
        assert eventually(lambda: [c.session_id for c in router.fetch_connections(
            namespace="/room-7")] == [here.sid])


def test_a_process_without_a_client_there_still_gets_answers_about_the_namespace(
        two_processes):
    router, base, child_base, child = two_processes
    with SioClient(child_base, namespace="/room-7") as there:
        listening(lambda: router.emit("probe", namespace="/room-7"), there)
        assert there.call("join", "blue") == ["joined"]
        assert [c.session_id for c in router.fetch_connections(namespace="/room-7")] \
            == [there.sid]
        assert router.all_rooms("/room-7") >= {"blue", there.sid}
        answers = gevent.event.AsyncResult()
        router.server_side_emit("whoami", namespace="/room-7", callback=answers.set)
        assert answers.get(timeout=10) == ["geventio:%d" % child.pid]
        assert router.call("ask", namespace="/room-7", timeout=5) == ["ack-" + there.sid]
        # the requests over, this process listens to the router's names only
        assert eventually(lambda: router.adapter.namespaces == ["/"])


class Silent(SioClient):
    """A client that never acknowledges."""

    def send_packet(self, packet):
        if packet.type != 3:  # ACK
            super().send_packet(packet)


def test_a_call_about_the_namespace_from_a_process_without_a_client_there_spends_one_timeout(
        two_processes):
    router, base, child_base, _ = two_processes
    with Silent(child_base, namespace="/room-7") as there:
        listening(lambda: router.emit("probe", namespace="/room-7"), there)
        started = time.monotonic()
        with pytest.raises(geventio.TimeoutError) as failure:
            router.call("ask", namespace="/room-7", timeout=2)
        elapsed = time.monotonic() - started
        assert failure.value.responses == []
        # the wait for the namespace's subscription (and AMQP's 1 s discovery window)
        # comes out of the 2 s: a bound with a generous margin, not a speed measure
        assert elapsed < 2 + 0.8, elapsed


def test_a_namespace_with_no_client_anywhere_has_nothing_to_fetch(two_processes):
    router, base, child_base, _ = two_processes
    assert router.fetch_connections(namespace="/room-9", timeout=2) == []
    assert router.all_rooms("/room-9", timeout=2) == set()
    assert router.emit("nobody", namespace="/room-9") == 0


def test_a_process_stops_listening_when_its_last_client_there_leaves(two_processes):
    router, base, child_base, _ = two_processes
    with SioClient(base, namespace="/room-7") as here, SioClient(child_base) as lobby:
        there = SioClient(child_base, namespace="/room-7")
        listening(lambda: router.emit("probe", namespace="/room-7"), there)
        assert eventually(lambda: router.server_count("/room-7") == 2)
        assert lobby.call("count", "/room-7") == [2]
        there.close()
        assert eventually(lambda: router.server_count("/room-7") == 1)
        assert here.sid in [c.session_id for c in router.fetch_connections(
            namespace="/room-7")]
