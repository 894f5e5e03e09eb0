"""RedisAdapter when Redis fails: down at start-up, killed and restarted while serving. A
server keeps serving its own clients, logs what it could not publish, resubscribes with
backoff, and leaves no greenlet or Redis connection behind when it closes."""
import contextlib
import logging
import re
import time

import gevent
import pytest

import geventio
from helpers.server import make_application, serve
from helpers.sio_ws import SioClient

pytestmark = pytest.mark.slow


class Chat(geventio.SocketConnection):
    def on_message(self, message):
        pass


@contextlib.contextmanager
def member(url, key):
    adapter = geventio.RedisAdapter(url, key=key)
    router = geventio.get_router(Chat, adapter=adapter)
    with serve(make_application([router.route()])) as base:
        try:
            yield router, base
        finally:
            router.close()


def clients_of(redis_server, key_part=None):
    """How many client connections the Redis server has (the test's own one excluded)."""
    client = redis_server.client()
    try:
        return len(client.client_list()) - 1
    finally:
        client.close()


def test_a_server_started_while_redis_is_down_serves_locally_then_joins(private_redis,
                                                                        redis_key, caplog):
    private_redis.stop()
    with member(private_redis.url, redis_key) as (router, base), SioClient(base) as local:
        assert router.emit("local-only", 1) == 1
        local.wait_for("local-only")
        assert router.server_count() == 1
        private_redis.start()
        assert router.adapter.wait_subscribed(15)
        with member(private_redis.url, redis_key) as (other, _):
            assert other.adapter.wait_subscribed(5)
            other.emit("across", 2)
            assert local.wait_for("across") == [["across", 2]]
    assert "Redis subscription lost or refused" in caplog.text


def test_a_redis_restart_is_survived_by_resubscribing(private_redis, redis_key, caplog):
    with member(private_redis.url, redis_key) as (a, _), \
            member(private_redis.url, redis_key) as (b, base_b), SioClient(base_b) as cb:
        assert a.adapter.wait_subscribed(5) and b.adapter.wait_subscribed(5)
        private_redis.kill()
        with caplog.at_level(logging.WARNING):
            assert a.emit("lost") == 0  # published while Redis is down: logged, lost
            gevent.sleep(0.5)
        assert "not delivered to other servers" in caplog.text
        assert b.emit("still-local") == 1
        cb.wait_for("still-local")
        private_redis.start()
        assert a.adapter.wait_subscribed(15) and b.adapter.wait_subscribed(15)
        a.emit("after", 3)
        assert cb.wait_for("after") == [["after", 3]]
        assert cb.named("lost") == []


class Room(geventio.SocketConnection):
    def on_message(self, message):
        pass


def test_a_dynamic_namespace_subscribed_while_serving_is_resubscribed_after_a_restart(
        private_redis, redis_key):
    rooms = {re.compile(r"^/room-\d+$"): Room}
    a = geventio.get_router(Chat, namespaces=rooms,
                            adapter=geventio.RedisAdapter(private_redis.url, key=redis_key))
    with serve(make_application([a.route()])) as base, \
            member(private_redis.url, redis_key) as (b, _):
        assert a.adapter.wait_subscribed(5) and b.adapter.wait_subscribed(5)
        with SioClient(base, namespace="/room-7") as here:
            assert a.adapter.namespaces == ["/", "/room-7"]
            private_redis.kill()
            private_redis.start()
            assert a.adapter.wait_subscribed(15) and b.adapter.wait_subscribed(15)
            deadline = time.monotonic() + 10
            while not here.named("after"):
                assert time.monotonic() < deadline, "/room-7 was not resubscribed"
                b.emit("after", namespace="/room-7")
                gevent.sleep(0.1)
        assert eventually_only_root(a)
    a.close()


def eventually_only_root(router, timeout=5.0):
    deadline = time.monotonic() + timeout
    while router.adapter.namespaces != ["/"]:
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.05)
    return True


def test_closing_the_router_leaves_no_greenlet_or_redis_connection(redis_server, redis_key):
    before = clients_of(redis_server)
    adapter = geventio.RedisAdapter(redis_server.url, key=redis_key)
    router = geventio.get_router(Chat, adapter=adapter)
    assert adapter.wait_subscribed(5)
    router.emit("x")
    assert router.server_count() == 1
    assert clients_of(redis_server) > before
    router.close()
    assert adapter.running is False  # the publisher and subscriber greenlets are dead
    gevent.sleep(0.2)
    assert clients_of(redis_server) == before


def test_a_request_to_an_unreachable_redis_answers_with_this_server_alone(private_redis,
                                                                         redis_key):
    with member(private_redis.url, redis_key) as (router, base), SioClient(base, ack="me"):
        assert router.adapter.wait_subscribed(5)
        private_redis.kill()
        with gevent.Timeout(10):
            assert router.server_count() == 1
            assert router.call("q", timeout=2) == ["me"]
            assert len(router.fetch_connections(timeout=1)) == 1


def test_a_slow_redis_holds_up_no_local_delivery_and_loses_nothing(redis_server, redis_key):
    with member(redis_server.url, redis_key) as (a, base_a), \
            member(redis_server.url, redis_key) as (b, base_b), \
            SioClient(base_a) as ca, SioClient(base_b) as cb:
        assert a.adapter.wait_subscribed(5) and b.adapter.wait_subscribed(5)
        pauser = redis_server.client()
        try:
            pauser.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # Redis answers nobody
            paused = gevent.spawn(gevent.sleep, 1.5)
            for n in range(20):
                a.emit("slow", n)
            assert [args[1] for args in ca.wait_for("slow", count=20)] == list(range(20))
            assert not paused.dead  # delivered here while Redis was still paused
            assert [args[1] for args in cb.wait_for("slow", count=20, timeout=10)] == \
                list(range(20))  # and there once it answered again, in order
        finally:
            pauser.close()
