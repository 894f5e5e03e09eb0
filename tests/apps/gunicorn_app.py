"""The application tests/test_gunicorn.py runs under gunicorn's GeventioWorker.

Every on_close appends a line to the file named by $GEVENTIO_CLOSE_LOG, so a test can
count them after the worker is gone.
"""
import os

import geventio

CLOSE_LOG = os.environ.get("GEVENTIO_CLOSE_LOG")


class Echo(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.join("all")

    def on_message(self, message):
        self.send(message)

    @geventio.event
    def echo(self, *args):
        return args

    @geventio.event
    def pid(self):
        return os.getpid()

    @geventio.event
    def shout(self, text):
        self.router.emit("shouted", text, to="all")

    def on_close(self):
        if CLOSE_LOG:
            with open(CLOSE_LOG, "a") as fh:
                fh.write("%s %s\n" % (os.getpid(), self.session.protocol))


router = geventio.get_router(Echo, {"ping_interval": 5, "ping_timeout": 5})
application = geventio.Application([router.route()])
