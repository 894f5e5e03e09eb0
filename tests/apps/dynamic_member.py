"""A geventio cluster member serving namespaces by pattern (``/room-<n>``), for tests that
need a real second process: ``geventio-serve tests/apps/dynamic_member.py:application``
with, in the environment, GEVENTIO_ADAPTER (``redis``, ``streams`` or ``amqp``) and
GEVENTIO_URL, and GEVENTIO_KEY (the Redis key, stream name or AMQP exchange).

Its clients on ``/`` may ask it to act on any namespace:

* ``emit(namespace, event, *args)``: ``router.emit`` there;
* ``fetch(namespace)``: the session ids ``router.fetch_connections`` lists there;
* ``rooms(namespace)``: ``router.all_rooms`` there;
* ``count(namespace)``: ``router.server_count`` there.

A client on ``/room-<n>`` may ``join(room)``. Its ``@server_event("whoami", namespace=
"/room-7")`` answers ``"geventio:<pid>"``.
"""
import os
import re

import geventio

ROOMS = re.compile(r"^/room-\d+$")


class Lobby(geventio.SocketConnection):
    @geventio.event("emit")
    def on_emit(self, namespace, event, *args):
        self.router.emit(event, *args, namespace=namespace)
        return "sent"

    @geventio.event("fetch")
    def on_fetch(self, namespace):
        return sorted(c.session_id for c in self.router.fetch_connections(namespace=namespace))

    @geventio.event("rooms")
    def on_rooms(self, namespace):
        return sorted(self.router.all_rooms(namespace))

    @geventio.event("count")
    def on_count(self, namespace):
        return self.router.server_count(namespace)

    def on_message(self, message):
        pass


class Room(geventio.SocketConnection):
    @geventio.event("join")
    def on_join(self, room):
        self.join(room)
        return "joined"

    def on_message(self, message):
        pass


def make_adapter(kind, url, key):
    """The cluster adapter of ``kind`` (redis, streams, amqp) on ``url`` under ``key``."""
    if kind == "redis":
        return geventio.RedisAdapter(url, key=key)
    if kind == "streams":
        return geventio.RedisStreamsAdapter(url, stream_name=key, channel_prefix=key)
    return geventio.AmqpAdapter(url, exchange=key, heartbeat_interval=0.3,
                                heartbeat_timeout=1.5)


if "GEVENTIO_ADAPTER" in os.environ:
    router = geventio.get_router(Lobby, namespaces={ROOMS: Room}, adapter=make_adapter(
        os.environ["GEVENTIO_ADAPTER"], os.environ["GEVENTIO_URL"], os.environ["GEVENTIO_KEY"]))

    @router.server_event("whoami", namespace="/room-7")
    def whoami():
        return "geventio:%d" % os.getpid()

    application = geventio.Application([router.route()], flash_policy_port=None)
