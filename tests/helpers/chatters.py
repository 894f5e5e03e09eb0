"""Chat-room members of every kind for the cluster tests (tests/test_workers.py,
tests/test_haproxy.py): each can say something and collect the ``said`` events it gets
(sticky_app.py broadcasts ``said`` [pid, text] to everyone)."""
import json

import gevent

from .clients06 import TRANSPORTS
from .eio_client import handshake, post
from .wire import request


class ModernPolling:
    """A Socket.IO v5 client over Engine.IO v4 polling, spoken raw."""

    kind = "4.x polling"

    def __init__(self, base):
        self.base = base
        self.sid, _ = handshake(base, "socket.io")
        self.said_so_far = []
        self._post("40")
        while not any(p.startswith("40{") for p in self._poll()):
            pass

    def _post(self, body):
        status, _, answer = post(self.base, "socket.io", self.sid, body)
        assert (status, answer) == (200, b"ok"), (status, answer)

    def _poll(self):
        path = "/socket.io/?EIO=4&transport=polling&sid=" + self.sid
        status, _, body = request(self.base, "GET", path, timeout=40)
        assert status == 200, (status, body)
        packets = body.decode().split("\x1e")
        for packet in packets:
            if packet.startswith("42"):
                event, *args = json.loads(packet[2:])
                if event == "said":
                    self.said_so_far.append(args)
        return packets

    def say(self, text):
        self._post('42["chat",%s]' % json.dumps(text))

    def receive(self):
        self._poll()

    def close(self):
        pass


class Legacy:
    """A socket.io 0.6 client over one of its polling transports."""

    def __init__(self, base, transport):
        self.client = TRANSPORTS[transport](base)
        self.kind = "0.6 " + transport
        self.sid = self.client.sid
        self.said_so_far = []

    def say(self, text):
        self.client.send("chat:" + text)

    def receive(self):
        for frame in self.client.receive():
            if frame.startswith("~j~"):
                message = json.loads(frame[3:])
                if message.get("name") == "said":
                    self.said_so_far.append(message["args"])

    def close(self):
        self.client.close()


def every_kind(base, each=1):
    """``each`` members of every polling kind: modern raw polling and the 0.6 transports."""
    members = []
    for _ in range(each):
        members.append(ModernPolling(base))
        members.extend(Legacy(base, transport) for transport in sorted(TRANSPORTS))
    return members


def wait_until_heard(members, text, timeout=15):
    """Receive until every member has heard ``text``; the [pid, text] each heard it as."""
    def listen(member):
        while not any(args[1] == text for args in member.said_so_far):
            member.receive()

    jobs = [gevent.spawn(listen, member) for member in members]
    gevent.joinall(jobs, timeout=timeout)
    deaf = [m.kind for m, job in zip(members, jobs) if not job.successful()]
    for job in jobs:
        job.kill(block=False)
    assert deaf == [], "never heard %r: %s" % (text, deaf)
    return [next(args for args in m.said_so_far if args[1] == text) for m in members]
