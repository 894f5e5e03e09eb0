"""Benchmark servers: geventio, or python-socketio 5.x in gevent mode, with the same handlers.

    python scripts/bench/server.py --impl geventio|python-socketio --port 8000 \
        [--transports polling,websocket]

Both serve Socket.IO at /socket.io/ on 127.0.0.1 with the same settings (ping interval and
timeout, max_http_buffer_size, no compression, TCP_NODELAY on every accepted socket) and
the same two events:

* ``echo(data)`` acknowledges with ``data``;
* ``broadcast(seq)`` emits ``tick(seq, PAYLOAD)`` to every client of the namespace.

``--deflate JSON`` (geventio only): the ``per_message_deflate`` setting (``false``, ``true``
or an options object); ``--payload-bytes N``: ``tick``'s payload is N bytes of compressible
text instead of the short string (bench.py ``--cases deflate``).

``--redis URL --key KEY``: a member of a cluster on that Redis (geventio's RedisAdapter,
python-socketio's RedisManager): ``broadcast`` then reaches the clients of every member.

Prints ``READY <pid>`` on stdout once listening, then serves until killed. scripts/bench.py
starts it pinned to one core (taskset).

``--tracemalloc FILE`` (memory profiling; slows everything down): the first SIGUSR1 takes a
baseline snapshot, the second writes to FILE what was allocated since, by line and by
traceback, plus the count of live greenlets, then prints ``TRACEMALLOC <FILE>``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys

PAYLOAD = "hello geventio benchmark"
PING_INTERVAL = 25.0
PING_TIMEOUT = 20.0
MAX_HTTP_BUFFER_SIZE = 1_000_000


def compressible_payload(size: int) -> str:
    """``size`` bytes of text like a JSON feed: compressible, not trivially so."""
    line, n, out = "", 0, []
    while sum(map(len, out)) < size:
        line = '{"id": %d, "user": "user%d", "text": "message number %d", "ok": true}\n' \
            % (n, n % 97, n * 7919 % 10007)
        out.append(line)
        n += 1
    return "".join(out)[:size]


def serve_geventio(host: str, port: int, transports: list, redis: str = "",
                   key: str = "socket.io", deflate: object = False) -> None:
    import geventio

    class Bench(geventio.SocketConnection):
        @geventio.event
        def echo(self, data):
            return data

        @geventio.event
        def broadcast(self, seq):
            self.router.emit("tick", seq, PAYLOAD)

    adapter = geventio.RedisAdapter(redis, key=key) if redis else None
    router = geventio.get_router(Bench, settings=dict(
        transports=transports, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE, per_message_deflate=deflate),
        adapter=adapter)
    app = geventio.Application([router.route()], socket_io_port=port,
                               socket_io_address=host, flash_policy_port=None)
    server = geventio.SocketServer(app, auto_start=False)  # sets TCP_NODELAY itself
    server.start()
    ready()
    server.serve_forever()


def serve_python_socketio(host: str, port: int, transports: list, redis: str = "",
                          key: str = "socket.io") -> None:
    import socketio
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    class NoDelayWebSocketHandler(WebSocketHandler):
        def handle(self):
            try:
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            super().handle()

    manager = socketio.RedisManager(redis, channel=key) if redis else None
    sio = socketio.Server(
        async_mode="gevent", transports=transports, client_manager=manager,
        ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE, http_compression=False, logger=False,
        engineio_logger=False)

    @sio.event
    def echo(sid, data):
        return data

    @sio.event
    def broadcast(sid, seq):
        sio.emit("tick", (seq, PAYLOAD))

    app = socketio.WSGIApp(sio)
    server = pywsgi.WSGIServer((host, port), app, handler_class=NoDelayWebSocketHandler,
                               log=None)
    server.start()
    ready()
    server.serve_forever()


def enable_tracemalloc(path: str) -> None:
    import gc
    import tracemalloc

    import gevent
    from greenlet import greenlet

    tracemalloc.start(12)
    state = {}

    def count_greenlets() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, greenlet))

    def on_usr1() -> None:
        gc.collect()
        if "base" not in state:
            state["base"] = tracemalloc.take_snapshot()
            state["greenlets"] = count_greenlets()
            return
        snap = tracemalloc.take_snapshot()
        greenlets = count_greenlets()
        with open(path, "w") as fh:
            for group, limit in (("lineno", 40), ("traceback", 15)):
                stats = snap.compare_to(state["base"], group)
                total = sum(s.size_diff for s in stats)
                fh.write("== allocated since the baseline, by %s: %.1f MiB total; live greenlets "
                         "%d -> %d\n" % (group, total / 2**20, state["greenlets"], greenlets))
                for stat in stats[:limit]:
                    fh.write("%9.1f KiB %8d blocks  %s\n" % (
                        stat.size_diff / 1024, stat.count_diff,
                        stat.traceback[0] if group == "lineno" else ""))
                    if group == "traceback":
                        for line in stat.traceback.format(most_recent_first=True)[:16]:
                            fh.write("        %s\n" % line)
                fh.write("\n")
        sys.stdout.write("TRACEMALLOC %s\n" % path)
        sys.stdout.flush()

    gevent.signal_handler(signal.SIGUSR1, on_usr1)


def ready() -> None:
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", choices=["geventio", "python-socketio"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transports", default="polling,websocket")
    parser.add_argument("--tracemalloc", metavar="FILE", help="memory profile (see above)")
    parser.add_argument("--redis", default="", metavar="URL",
                        help="a cluster member on this Redis (geventio: RedisAdapter; "
                        "python-socketio: RedisManager)")
    parser.add_argument("--key", default="socket.io", help="the cluster's channel prefix")
    parser.add_argument("--deflate", default="false", metavar="JSON",
                        help="geventio's per_message_deflate setting, as JSON")
    parser.add_argument("--payload-bytes", type=int, default=0,
                        help="tick's payload: this many bytes of compressible text")
    args = parser.parse_args()
    if args.payload_bytes:
        global PAYLOAD
        PAYLOAD = compressible_payload(args.payload_bytes)
    if args.tracemalloc:
        enable_tracemalloc(args.tracemalloc)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    transports = [t for t in args.transports.split(",") if t]
    if args.redis:
        from gevent import monkey
        monkey.patch_all()  # redis-py must not block the event loop
    if args.impl == "geventio":
        serve_geventio(args.host, args.port, transports, args.redis, args.key,
                       json.loads(args.deflate))
    else:
        serve_python_socketio(args.host, args.port, transports, args.redis, args.key)


if __name__ == "__main__":
    main()
