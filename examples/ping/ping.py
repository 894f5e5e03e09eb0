"""Ping: measure round trips between the browser and the server.

The page sends ``{"client": <its clock, ms>}``; the server answers with the same object
plus ``server`` (its clock, ms since the epoch) and ``ip`` (the client's address, as the
server saw it when the connection opened).

    python examples/ping/ping.py [--port 8001] [--host 127.0.0.1]
    geventio-serve examples/ping/ping.py:application --port 8001
"""
import argparse
import logging
import os
import signal
import sys
import time

import gevent
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
    parser = argparse.ArgumentParser(description="geventio ping example")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8001)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if _static.client_missing_message():
        print(_static.client_missing_message(), file=sys.stderr)
    server = geventio.SocketServer(application, auto_start=False, host=args.host, port=args.port)
    server.start()
    host, port = server.address[:2]
    print("Ping: open http://%s:%d/"
          % (host if host not in ("", "0.0.0.0") else "127.0.0.1", port), flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or kill: close sessions, exit 0
        gevent.signal_handler(signum, server.stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
