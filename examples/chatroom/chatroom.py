"""Chatroom: every message goes to everyone in the room.

Run it, then open the printed URL in two browser windows:

    python examples/chatroom/chatroom.py [--port 8001] [--host 127.0.0.1]
    geventio-serve examples/chatroom/chatroom.py:application --port 8001
"""
import os
import sys

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
    _static.run(application, "chatroom", "open in two browser windows", argv)


if __name__ == "__main__":
    main()
