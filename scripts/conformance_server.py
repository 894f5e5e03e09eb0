"""The geventio servers the official Engine.IO / Socket.IO conformance suites expect.

    python scripts/conformance_server.py eio [--port 3000]   # EIO v4 and v3 suites
    python scripts/conformance_server.py sio [--port 3000]   # Socket.IO v5 suite

Both use the suites' fixed settings: pingInterval 300 ms, pingTimeout 200 ms, maxPayload
1e6, any origin; ``sio`` adds connectTimeout 1000 ms. Run by scripts/conformance.sh; see
docs/CONFORMANCE.md.

``eio`` is a *raw* Engine.IO echo at ``/engine.io/``: every MESSAGE goes straight back,
without the Socket.IO layer geventio normally runs over Engine.IO. It is served by a
router whose ``engine_session_class`` is an :class:`geventio.engine.EngineSession`
subclass using the raw Engine.IO extension hook (``on_engine_message``; ``on_engine_open``
is the other one, not needed here).
"""
from gevent import monkey; monkey.patch_all()  # noqa: E702 -- before anything else

import argparse
import logging
import os
import sys
from typing import Union

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import geventio  # noqa: E402
from geventio.engine import EngineSession  # noqa: E402

SETTINGS = dict(ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=1_000_000,
                cors_allowed_origins="*")


class EchoEngineSession(EngineSession):
    """Engine.IO with nothing on top: each MESSAGE (text or binary) is sent back as is."""

    def on_engine_message(self, data: Union[str, bytes]) -> None:
        self.push([data if isinstance(data, bytes) else "4" + data])


class Unused(geventio.SocketConnection):
    """A router needs a handler class; the raw echo never creates connections."""


class EchoEngineRouter(geventio.Router):
    engine_session_class = EchoEngineSession


class Main(geventio.SocketConnection):
    """The SIO v5 suite's '/' namespace: emit the auth payload, echo, ack."""

    def on_open(self, request, *args, **kwargs):
        self.emit("auth", kwargs["auth"])

    @geventio.event("message")
    def message(self, *args):
        self.emit("message-back", *args)

    @geventio.event("message-with-ack")
    def message_with_ack(self, *args):
        return args


class Custom(geventio.SocketConnection):
    """The SIO v5 suite's '/custom' namespace: emit the auth payload."""

    def on_open(self, request, *args, **kwargs):
        self.emit("auth", kwargs["auth"])


def build(kind):
    if kind == "eio":
        router = EchoEngineRouter(Unused, settings=SETTINGS, resource="engine.io")
    else:
        router = geventio.get_router(Main, settings=dict(SETTINGS, connect_timeout=1.0),
                                     resource="socket.io", namespaces={"/custom": Custom})
    return router


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("eio", "sio"))
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default="127.0.0.1",
                        help="the suites connect to localhost (default 127.0.0.1)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = geventio.Application([build(args.kind)], socket_io_address=args.host,
                               socket_io_port=args.port, flash_policy_port=None)
    geventio.SocketServer(app)


if __name__ == "__main__":
    main()
