"""Ping: measure round trips between the browser and the server.

The page sends ``{"client": <its clock, ms>}``; the server answers with the same object
plus ``server`` (its clock, ms since the epoch) and ``ip`` (the client's address, as the
server saw it when the connection opened).

    python examples/ping/ping.py [--port 8001] [--host 127.0.0.1]
    geventio-serve examples/ping/ping.py:application --port 8001
"""
import os
import sys
import time

import geventio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # for examples/_static.py
import _static  # noqa: E402


class PingConnection(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.ip = request.remote_addr

    def on_message(self, message):
        if not isinstance(message, dict):
            message = {"text": message}
        message["server"] = time.time() * 1000.0
        message["ip"] = self.ip
        self.send(message)  # a dict goes back as JSON


router = geventio.get_router(PingConnection)

application = geventio.Application(
    [router.route()],
    fallback=_static.static_app(HERE),  # index.html and /socket.io.js
    socket_io_port=8001,
    socket_io_address="127.0.0.1",
    flash_policy_port=843,
)


def main(argv=None):
    _static.run(application, "ping", "open", argv)


if __name__ == "__main__":
    main()
