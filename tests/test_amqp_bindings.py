"""The AMQP adapter's queue bindings for namespaces created from a pattern, on a real
RabbitMQ (127.0.0.1:5672, guest/guest, an exchange of each test's own).

The consumer declares its queue with the bindings of every namespace listened to, then waits
for the broker. A namespace that gets its first client (or loses its last one) while that
declaration is on its way must still be bound (unbound) right after it: the adapter here
opens or closes one at the step where the queue's bindings have just been chosen, which is
where such a change lands when it happens during a (re)connect."""
import socket
import subprocess
import time
import uuid

import gevent
import pytest

import geventio
from apps.dynamic_member import ROOMS, Lobby, Room
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient

pytestmark = pytest.mark.slow

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
BEAT = {"heartbeat_interval": 0.3, "heartbeat_timeout": 1.5}


class ChangedWhileDeclaring(geventio.AmqpAdapter):
    """An AmqpAdapter that opens ``opens`` and closes ``closes`` (as a first client arriving
    or a last one leaving would) once the bindings of its first queue are chosen, before
    the broker has declared them."""

    def __init__(self, *args, opens=(), closes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.opens = list(opens)
        self.closes = list(closes)

    def _queue_(self, *args):
        queue = super()._queue_(*args)
        for namespace in self.opens:
            self.on_namespace_created(namespace)
        for namespace in self.closes:
            self.on_namespace_deleted(namespace)
        self.opens = self.closes = []
        return queue


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


def started(adapter):
    router = geventio.get_router(Lobby, namespaces={ROOMS: Room}, adapter=adapter)
    assert adapter.wait_ready(5)
    return router


def eventually(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.1)
    return True


def bound_keys(queue):
    """The routing keys RabbitMQ binds ``queue`` with (rabbitmqctl list_bindings)."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_bindings", "--no-table-headers",
                             "destination_name", "routing_key"], capture_output=True,
                            text=True, timeout=30, check=True).stdout
    return {line.split("\t")[1] for line in listed.splitlines()
            if line.split("\t")[0] == queue}


def test_a_namespace_opened_while_the_queue_is_declared_gets_the_other_servers_broadcasts(
        exchange):
    here = started(ChangedWhileDeclaring(BROKER, exchange=exchange, opens=["/room-7"],
                                         **BEAT))
    there = started(geventio.AmqpAdapter(BROKER, exchange=exchange, **BEAT))
    try:
        with serve(make_application([here.route()])) as base, \
                serve(make_application([there.route()])) as there_base, \
                SioClient(base, namespace="/room-7") as client, \
                SioClient(there_base, namespace="/room-7") as _other:
            deadline = time.monotonic() + 5
            while not client.named("probe"):
                assert time.monotonic() < deadline, "/room-7 was never bound here"
                there.emit("probe", namespace="/room-7")
                gevent.sleep(0.1)
            assert eventually(lambda: here.server_count("/room-7") == 2)
    finally:
        there.close()
        here.close()


def test_a_namespace_closed_while_the_queue_is_declared_leaves_no_binding(exchange):
    adapter = ChangedWhileDeclaring(BROKER, exchange=exchange, closes=["/room-8"], **BEAT)
    adapter.on_namespace_created("/room-8")  # a client there as the adapter starts
    router = started(adapter)
    queue = "%s#%s" % (exchange, adapter.uid)
    try:
        key = "%s#/room-8#" % exchange
        gone = {key, "%s%s#" % (key, adapter.uid)}
        assert eventually(lambda: not gone & bound_keys(queue), timeout=15), bound_keys(queue)
        assert "%s#/#" % exchange in bound_keys(queue)
        assert adapter.namespaces == ["/"]
    finally:
        router.close()
