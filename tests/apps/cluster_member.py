"""A geventio cluster member for tests that need a real second process:
``geventio-serve tests/apps/cluster_member.py:application`` with GEVENTIO_REDIS_URL and
GEVENTIO_REDIS_KEY in the environment (or without them, and ``--message-queue URL``). Its
clients may ask it to broadcast:

* ``burst(n)``: ``router.emit("n", i)`` for i in 0..n-1, in order;
* ``emit(event, *args)``: one ``router.emit`` to everyone;
* ``call(event)``: ``router.call(event)``, acked with the list of answers.

Its ``@server_event("whoami")`` answers ``"geventio:<pid>"``.
"""
import os

import geventio


class Member(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.data["pid"] = os.getpid()

    @geventio.event("join")
    def on_join(self, room):
        self.join(room)
        return "joined"

    @geventio.event("burst")
    def on_burst(self, n):
        for i in range(n):
            self.router.emit("n", i)
        return n

    @geventio.event("emit")
    def on_emit(self, event, *args):
        self.router.emit(event, *args)

    @geventio.event("call")
    def on_call(self, event):
        return self.router.call(event, timeout=5)

    def on_message(self, message):
        pass


# without GEVENTIO_REDIS_URL: the adapter of geventio-serve's --message-queue
router = geventio.get_router(Member, adapter=geventio.RedisAdapter(
    os.environ["GEVENTIO_REDIS_URL"], key=os.environ["GEVENTIO_REDIS_KEY"])
    if "GEVENTIO_REDIS_URL" in os.environ else None)


@router.server_event("whoami")
def whoami():
    return "geventio:%d" % os.getpid()


application = geventio.Application([router.route()], flash_policy_port=None)
