"""router.instrument() across processes: a geventio-serve child and a server in the test
process, both instrumented, share one private Redis; the admin client of one sees both
servers and the sockets of both, and disconnects a socket of the other process."""
import os
import socket
import uuid

import gevent
import pytest

import geventio
from helpers import REPO_ROOT
from helpers.admin import NodeClients
from helpers.node import node_available
from helpers.process import free_port, geventio_serve, running
from helpers.server import make_application, serve

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not node_available(), reason="needs node and npm ci")]

APP = os.path.join(REPO_ROOT, "tests", "apps", "admin_member.py") + ":application"


class Local(geventio.SocketConnection):
    pass


@pytest.fixture
def two_processes(redis_server, redis_key):
    port = free_port()
    env = dict(os.environ, GEVENTIO_REDIS_URL=redis_server.url, GEVENTIO_REDIS_KEY=redis_key,
               GEVENTIO_SERVER_ID="child", PYTHONPATH=REPO_ROOT)
    cmd = geventio_serve() + [APP, "--host", "127.0.0.1", "--port", str(port),
                              "--no-flash-policy", "--log-level", "warning"]
    adapter = geventio.RedisAdapter(redis_server.url, key=redis_key)
    router = geventio.get_router(Local, adapter=adapter)
    router.instrument(auth=None, server_id="here", stats_interval=0.5)
    assert adapter.wait_subscribed(5)
    with running(cmd, port, env=env) as (child, child_base, _):
        with serve(make_application([router.route()])) as base:
            with gevent.Timeout(10):
                while router.server_count() < 2:
                    gevent.sleep(0.05)
            with NodeClients() as node:
                yield router, base, child_base, child, node
    router.close()


def test_the_admin_client_of_one_process_sees_both_servers(two_processes):
    _, base, _, _, node = two_processes
    assert "id" in node.connect("admin", base, "/admin")
    node.wait_for("admin", "server_stats", match='"serverId":"child"')
    node.wait_for("admin", "server_stats", match='"serverId":"here"')


def test_all_sockets_lists_the_sockets_of_both_processes(two_processes):
    _, base, child_base, _, node = two_processes
    here = node.connect("here", base)["id"]
    there = node.connect("there", child_base)["id"]
    node.emit("there", "join", "far-room")
    gevent.sleep(0.3)
    assert "id" in node.connect("admin", base, "/admin")
    [[_, sockets]] = node.wait_for("admin", "all_sockets")
    by_id = {s["id"]: s for s in sockets}
    assert {here, there} <= set(by_id)
    assert by_id[there]["rooms"] == sorted([there, "far-room"])
    assert by_id[there]["transport"] in ("polling", "websocket")
    assert "_admin" not in by_id[there]["data"]


def test_a_connection_to_the_other_process_is_reported_here(two_processes):
    _, base, child_base, _, node = two_processes
    assert "id" in node.connect("admin", base, "/admin")
    there = node.connect("there", child_base)["id"]
    [[_, sock, _]] = node.wait_for("admin", "socket_connected", match=there)
    assert sock["id"] == there


def test_a_disconnect_from_the_admin_reaches_a_socket_of_the_other_process(two_processes):
    _, base, child_base, _, node = two_processes
    assert "id" in node.connect("admin", base, "/admin")
    there = node.connect("there", child_base)["id"]
    node.emit("admin", "_disconnect", "/", False, there)
    [[_, reason]] = node.wait_for("there", "$disconnect")
    assert reason == "io server disconnect"
    node.wait_for("admin", "socket_disconnected", match=there)


# -- the same over RabbitMQ, instrumented after the adapter declared its queue -----------

AMQP_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def amqp_pair():
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        pytest.skip("needs RabbitMQ on 127.0.0.1:5672")
    exchange = "geventio-test-" + uuid.uuid4().hex[:12]
    routers = []
    for name in ("a", "b"):
        adapter = geventio.AmqpAdapter(AMQP_BROKER, exchange=exchange, heartbeat_interval=0.5,
                                       heartbeat_timeout=2.0)
        router = geventio.get_router(Local, adapter=adapter)
        assert adapter.wait_ready(5)
        router.instrument(auth=None, server_id=name, stats_interval=0.5)
        assert adapter.wait_ready(5)
        routers.append(router)
    with serve(make_application([routers[0].route()])) as base_a, \
            serve(make_application([routers[1].route()])) as base_b, NodeClients() as node:
        yield base_a, base_b, node
    for router in routers:
        router.close()
    import kombu
    with kombu.Connection(AMQP_BROKER) as conn:
        kombu.Exchange(exchange, type="direct", channel=conn.channel()).delete()


def test_over_amqp_the_admin_sees_the_other_server_and_disconnects_its_socket(amqp_pair):
    base_a, base_b, node = amqp_pair
    assert "id" in node.connect("admin", base_a, "/admin")
    node.wait_for("admin", "server_stats", match='"serverId":"b"')
    there = node.connect("there", base_b)["id"]
    node.wait_for("admin", "socket_connected", match=there)
    node.emit("admin", "_disconnect", "/", False, there)
    [[_, reason]] = node.wait_for("there", "$disconnect")
    assert reason == "io server disconnect"


# -- the same over Redis streams, instrumented after the adapter subscribed --------------

@pytest.fixture
def streams_pair(redis_server, redis_key):
    routers = []
    for name in ("a", "b"):
        adapter = geventio.RedisStreamsAdapter(redis_server.url, stream_name=redis_key,
                                               channel_prefix=redis_key)
        router = geventio.get_router(Local, adapter=adapter)
        assert adapter.wait_ready(5)
        router.instrument(auth=None, server_id=name, stats_interval=0.5)
        assert adapter.wait_ready(5)
        routers.append(router)
    with serve(make_application([routers[0].route()])) as base_a, \
            serve(make_application([routers[1].route()])) as base_b, NodeClients() as node:
        yield base_a, base_b, node
    for router in routers:
        router.close()


def test_over_redis_streams_the_admin_lists_and_disconnects_the_other_servers_socket(
        streams_pair):
    base_a, base_b, node = streams_pair
    there = node.connect("there", base_b)["id"]
    admin_b = node.connect("admin-b", base_b, "/admin")["id"]
    assert "id" in node.connect("admin", base_a, "/admin")
    node.wait_for("admin", "server_stats", match='"serverId":"b"')
    [[_, sockets]] = node.wait_for("admin", "all_sockets")
    assert {there, admin_b} <= {s["id"] for s in sockets}  # "/" and "/admin" of b
    node.emit("admin", "_disconnect", "/", False, there)
    [[_, reason]] = node.wait_for("there", "$disconnect")
    assert reason == "io server disconnect"
