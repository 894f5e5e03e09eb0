"""The application tests/test_workers.py and tests/test_haproxy.py serve with geventio-serve:
every answer says which process gave it.

* modern clients: ``socket.emit('whoami', ack)`` is acknowledged with the process id;
  ``socket.emit('chat', text)`` sends ``said`` [pid, text] to everyone (once a message queue
  carries broadcasts across processes);
* 0.6 clients: every message ``m`` is answered with ``pid:<pid>:m``, except ``chat:<text>``,
  which sends ``said`` [pid, text] to everyone (0.6 clients get the JSON message
  ``{"name": "said", "args": [pid, text]}``);
* GET /whoami answers the pid (plain WSGI, through the fallback).

(It lives alone in tests/apps/: geventio-serve puts a target file's directory first on
sys.path, where tests/helpers/redis.py would hide redis-py.)

Opened and closed sessions are appended to ``opened.txt`` / ``closed.txt`` in the directory
named by ``GEVENTIO_TEST_RECORDS`` (one ``<pid> <session id>`` line each).
"""
import os

import geventio

RECORDS = os.environ.get("GEVENTIO_TEST_RECORDS", "")


def record(name, session_id):
    if RECORDS:
        with open(os.path.join(RECORDS, name), "a") as fh:
            fh.write("%d %s\n" % (os.getpid(), session_id))


class Who(geventio.SocketConnection):
    def on_open(self, request, *args, **kwargs):
        self.join("chat")
        record("opened.txt", self.session_id)

    def on_message(self, message):
        if isinstance(message, str) and message.startswith("chat:"):
            self.router.emit("said", os.getpid(), message[5:], to="chat")
            return
        self.send("pid:%d:%s" % (os.getpid(), message))

    @geventio.event
    def whoami(self):
        return os.getpid()

    @geventio.event
    def chat(self, text):
        self.router.emit("said", os.getpid(), text, to="chat")

    def on_close(self):
        record("closed.txt", self.session_id)


def whoami(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


router = geventio.get_router(Who, {"cookie": os.environ.get("GEVENTIO_TEST_COOKIE") or None})
application = geventio.Application([router.route()], fallback=whoami,
                                   socket_io_address="127.0.0.1", flash_policy_port=None)
