"""The server side of tests/js/modern/recovery.js: connection state recovery on.

``make_router(adapter=None, window=30.0)`` builds it for a test's own process; run as
``geventio-serve tests/apps/recovery_member.py:application`` with GEVENTIO_REDIS_URL and
GEVENTIO_STREAM in the environment, it is a cluster member on a RedisStreamsAdapter.

Handlers: ``setup(name)`` joins "room1", sets ``data["name"]`` and emits ``welcome``;
``emit-missed(sid)`` waits until ``sid`` is gone from the whole cluster, then emits to
"room1", to the sid, to everyone, to "room2", and to "room1" skipping the caller;
``emit-after`` emits ``after`` to "room1"; ``whoami`` answers
``[sid, rooms, data, recovered]``. ``opened`` records ``(sid, recovered, rooms)`` as
``on_open`` saw them.
"""
import os
import time

import gevent

import geventio

opened = []


class RecoveryMember(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        opened.append((self.session_id, self.recovered, sorted(self.rooms)))

    @geventio.event
    def setup(self, name):
        self.join("room1")
        self.data["name"] = name
        self.emit("welcome", name)
        return "ok"

    @geventio.event("emit-missed")
    def emit_missed(self, sid):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
                c.session_id == sid for c in self.router.fetch_connections(timeout=2)):
            gevent.sleep(0.02)
        gevent.sleep(0.05)  # the closing server keeps the session (a SET) meanwhile
        self.router.emit("missed", 1, to="room1")
        self.router.emit("missed", 2, to=sid)
        self.router.emit("missed-all", 3)
        self.router.emit("not-for-you", 4, to="room2")
        self.router.emit("missed", 5, to="room1", skip=self)
        return "sent"

    @geventio.event("emit-after")
    def emit_after(self):
        self.router.emit("after", 6, to="room1")
        return "sent"

    @geventio.event
    def whoami(self):
        return [self.session_id, sorted(self.rooms), self.data, self.recovered]


def make_router(adapter=None, window=30.0):
    return geventio.get_router(RecoveryMember, adapter=adapter,
                               settings={"connection_state_recovery": window})


if os.environ.get("GEVENTIO_STREAM"):
    router = make_router(geventio.RedisStreamsAdapter(
        os.environ["GEVENTIO_REDIS_URL"], stream_name=os.environ["GEVENTIO_STREAM"],
        channel_prefix=os.environ["GEVENTIO_STREAM"],
        session_key_prefix=os.environ["GEVENTIO_STREAM"] + ":session:"))
    application = geventio.Application([router.route()], flash_policy_port=None)
