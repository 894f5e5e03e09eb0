"""Handler classes the tests serve: an echo that records what happened to it."""
import gevent

import geventio


class Recorder:
    """Events seen by handlers, shared with the test."""

    def __init__(self):
        self.events = []
        self.connections = []

    def wait_for(self, predicate, timeout=5.0):
        deadline = gevent.get_hub().loop.now() + timeout
        while not predicate():
            if gevent.get_hub().loop.now() > deadline:
                raise AssertionError("timed out; events: %r" % (self.events,))
            gevent.sleep(0.01)

    def count(self, kind):
        return sum(1 for e in self.events if e[0] == kind)


def echo_handler(recorder, greeting=None, refuse=False):
    """A SocketConnection class that echoes every message and records its lifecycle."""

    class Echo(geventio.SocketConnection):
        def on_open(self, request, *args, **kwargs):
            recorder.connections.append(self)
            recorder.events.append(("open", kwargs.get("extra"), request.path))
            if refuse:
                return False
            if greeting is not None:
                self.send(greeting)

        def on_message(self, message):
            recorder.events.append(("message", message))
            if message == "close me":
                self.close()
            else:
                self.send(message)

        def on_close(self):
            recorder.events.append(("close",))

    return Echo
