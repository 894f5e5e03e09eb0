"""Transports: an echo server, and a page to try each socket.io 0.6 transport in turn.

Tick the transports the client may use, connect, and chat with the echo.

    python examples/transports/transports.py [--port 8001] [--host 127.0.0.1]
    geventio-serve examples/transports/transports.py:application --port 8001
"""
import logging
import os
import sys

import geventio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # for examples/_static.py
import _static  # noqa: E402

log = logging.getLogger("transports")


class EchoConnection(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        log.info("%s connected over %s", request.remote_addr, self.session.transport)

    def on_message(self, message):
        self.send(message)

    def on_close(self):
        log.info("%s (%s) disconnected", self.request.remote_addr, self.session.transport)


router = geventio.get_router(EchoConnection, {
    "enabled_protocols": ["websocket", "flashsocket", "xhr-multipart", "xhr-polling",
                          "jsonp-polling", "htmlfile"],
})

application = geventio.Application(
    [router.route()],
    fallback=_static.static_app(HERE),  # index.html and /socket.io.js
    socket_io_port=8001,
    socket_io_address="127.0.0.1",
    flash_policy_port=843,
)


def main(argv=None):
    _static.run(application, "transports", "open", argv)


if __name__ == "__main__":
    main()
