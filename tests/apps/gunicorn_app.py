"""The application tests/test_gunicorn.py runs under gunicorn's GeventioWorker.

It serves tests/pages/client06.html at "/" for the 0.6 client in Chromium. Every
on_close appends a line to the file named by $GEVENTIO_CLOSE_LOG, so a test can
count them after the worker is gone.
"""
import os

import geventio
from helpers import REPO_ROOT
from helpers.static import static_app

CLOSE_LOG = os.environ.get("GEVENTIO_CLOSE_LOG")


class Echo(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.join("all")

    def on_message(self, message):
        if message == "close me":  # tests/pages/client06.html's server-side disconnect
            self.close()
        else:
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
with open(os.path.join(REPO_ROOT, "tests", "pages", "client06.html"), encoding="utf-8") as _f:
    PAGE = _f.read()

# "/" is the 0.6 browser page (with /socket.io.js from node_modules)
application = geventio.Application(
    [router.route()], fallback=static_app({"/": ("text/html; charset=utf-8", PAGE)}))
