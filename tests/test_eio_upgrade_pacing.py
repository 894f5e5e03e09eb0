"""Polling while an upgrade WebSocket is open but not done (issue 11, item 4), at the HTTP
byte level: as node's engine.io, polls are held until the client's ``2probe``; then the
waiting poll is answered with a NOOP and later polls with a NOOP at most every 100 ms until
``5`` completes the upgrade (or it times out). Never a busy loop of instant NOOPs."""
import time

import gevent
import pytest

from helpers.eio_client import WSClient, echo_engine_router, get, handshake, url, wait_until
from helpers.server import make_application, serve

pytestmark = pytest.mark.timeout(30)

EIO = "engine.io"
WINDOW = 1.0


@pytest.fixture
def server():
    router = echo_engine_router(EIO)  # default heartbeats: a poll is held up to 25 s
    with serve(make_application([router.route()])) as base:
        yield router, base
    router.close()


class Poller:
    """A client polling its session back to back in a greenlet, recording each answer."""

    def __init__(self, base, sid):
        self.base, self.sid = base, sid
        self.answers = []
        self.greenlet = gevent.spawn(self._run)

    def _run(self):
        while True:
            status, _, body = get(self.base, EIO, self.sid, timeout=30)
            self.answers.append((status, body))
            if status != 200:
                return

    def noops(self):
        return [a for a in self.answers if a == (200, b"6")]


def assert_healthy(base):
    """A new client is served as usual: handshake, upgrade, echo."""
    sid, _ = handshake(base, EIO)
    ws = WSClient(base, url(EIO, transport="websocket", sid=sid))
    ws.send("2probe")
    assert ws.receive() == "3probe"
    ws.send("5")
    ws.send("4still fine")
    assert ws.receive() == "4still fine"
    ws.close()


def test_polls_are_held_while_an_upgrade_websocket_has_not_probed(server):
    router, base = server
    sid, _ = handshake(base, EIO)
    ws = WSClient(base, url(EIO, transport="websocket", sid=sid))  # opens, never probes
    poller = Poller(base, sid)
    gevent.sleep(WINDOW)
    assert poller.answers == []  # held, not answered at once again and again
    ws.send("2probe")
    assert ws.receive() == "3probe"
    wait_until(lambda: poller.noops() == [(200, b"6")], timeout=2)  # the probe ends it
    ws.send("5")
    poller.greenlet.join(timeout=5)
    ws.send("4after")
    assert ws.receive() == "4after"
    ws.close()
    assert_healthy(base)


def test_after_the_probe_polls_are_answered_with_a_noop_at_most_every_100_ms(server):
    router, base = server
    sid, _ = handshake(base, EIO)
    ws = WSClient(base, url(EIO, transport="websocket", sid=sid))
    ws.send("2probe")
    assert ws.receive() == "3probe"  # and then never "5"
    poller = Poller(base, sid)
    start = time.monotonic()
    gevent.sleep(WINDOW)
    answered = len(poller.answers)
    elapsed = time.monotonic() - start
    assert poller.noops() == poller.answers[:answered]
    assert 3 <= answered <= elapsed / 0.1 + 2, answered
    ws.send("5")  # the upgrade still completes
    poller.greenlet.join(timeout=5)
    assert router.sessions.get(sid).upgraded
    ws.send("4after")
    assert ws.receive() == "4after"
    ws.close()
    assert_healthy(base)


def test_a_stalled_upgrade_leaves_other_clients_unharmed(server):
    _router, base = server
    sid, _ = handshake(base, EIO)
    ws = WSClient(base, url(EIO, transport="websocket", sid=sid))
    ws.send("2probe")
    assert ws.receive() == "3probe"
    poller = Poller(base, sid)
    assert_healthy(base)
    poller.greenlet.kill()
    ws.close()
