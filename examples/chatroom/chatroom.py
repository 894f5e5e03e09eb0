"""Chatroom: every message goes to everyone in the room.

Run it, then open the printed URL in two browser windows:

    python examples/chatroom/chatroom.py [--port 8001] [--host 127.0.0.1]
    geventio-serve examples/chatroom/chatroom.py:application --port 8001
"""
import argparse
import logging
import os
import signal
import sys

import gevent
import geventio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # for examples/_static.py
import _static  # noqa: E402

ROOM = "chat"


class ChatConnection(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.join(ROOM)
        self.send("Welcome!")

    def on_message(self, message):
        self.router.send(message, to=ROOM)

    def on_close(self):
        # This connection has already left its rooms: the others get the notice.
        self.router.send("A user has left.", to=ROOM)


router = geventio.get_router(ChatConnection, {
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
    parser = argparse.ArgumentParser(description="geventio chatroom example")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8001)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if _static.client_missing_message():
        print(_static.client_missing_message(), file=sys.stderr)
    server = geventio.SocketServer(application, auto_start=False, host=args.host, port=args.port)
    server.start()
    host, port = server.address[:2]
    print("Chatroom: open http://%s:%d/ in two browser windows"
          % (host if host not in ("", "0.0.0.0") else "127.0.0.1", port), flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or kill: close sessions, exit 0
        gevent.signal_handler(signum, server.stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
