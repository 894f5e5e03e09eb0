"""The benchmark's geventio application as a module, for ``geventio-serve`` (bench.py
--workers): the same handlers and settings as scripts/bench/server.py's geventio server.
``BENCH_TRANSPORTS`` (comma-separated) picks the transports."""
import os

import geventio

from server import MAX_HTTP_BUFFER_SIZE, PAYLOAD, PING_INTERVAL, PING_TIMEOUT


class Bench(geventio.SocketConnection):
    @geventio.event
    def echo(self, data):
        return data

    @geventio.event
    def broadcast(self, seq):
        self.router.emit("tick", seq, PAYLOAD)


TRANSPORTS = [t for t in os.environ.get("BENCH_TRANSPORTS", "polling,websocket").split(",")
              if t]
router = geventio.get_router(Bench, settings=dict(
    transports=TRANSPORTS, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
    max_http_buffer_size=MAX_HTTP_BUFFER_SIZE))
application = geventio.Application([router.route()], socket_io_address="127.0.0.1",
                                   flash_policy_port=None)
