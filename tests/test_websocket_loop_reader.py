"""Socket.IO over WebSocket read in the event loop (no greenlet waits on an open connection):
messages still arrive whole and in order, and every way a connection ends is noticed."""
import gc
import os
import socket
import struct

import gevent
import greenlet
import pytest

import geventio
import geventio.session
from helpers.apps import Recorder, echo_handler
from helpers.eio_client import WSClient, WSClosed, url, wait_until
from helpers.server import make_application, serve

SIO = "socket.io"


def masked_frame(opcode, payload, fin=True):
    key = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked


def event(text):
    return '42["message","%s"]' % text


class Slow(geventio.SocketConnection):
    """Echoes each message after a short pause (so the inbox fills)."""

    def on_message(self, message):
        gevent.sleep(0.002)
        self.send(message)


@pytest.fixture
def server():
    recorder = Recorder()
    router = geventio.get_router(echo_handler(recorder), resource=SIO)
    slow = geventio.get_router(Slow, resource="slow", settings=dict(max_pending_messages=2))
    with serve(make_application([router, slow])) as base:
        yield base, recorder, router


def connect(base, resource=SIO):
    ws = WSClient(base, url(resource, transport="websocket"))
    assert ws.receive().startswith("0{")
    ws.send("40")
    assert ws.receive().startswith('40{"sid":')
    ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ws


def live_greenlets():
    # type(), not isinstance(): lazy proxies (Django's settings) evaluate themselves for it
    return sum(1 for o in gc.get_objects()
               if issubclass(type(o), greenlet.greenlet) and not o.dead)


def test_idle_websocket_connections_cost_no_greenlet(server, monkeypatch):
    monkeypatch.setattr(geventio.session, "WORKER_IDLE", 0.05)
    base, recorder, router = server
    gc.collect()
    before = live_greenlets()
    clients = [connect(base) for _ in range(20)]
    for i, ws in enumerate(clients):
        ws.send(event("hi %d" % i))
        assert ws.receive() == event("hi %d" % i)
    wait_until(lambda: all(s._worker is None for s in router.sessions.all()), timeout=3)
    gc.collect()
    assert live_greenlets() <= before
    for ws in clients:  # and they still work
        ws.send(event("again"))
        assert ws.receive() == event("again")


def test_messages_sent_in_one_burst_are_handled_in_order(server):
    base, _, _ = server
    ws = connect(base)
    texts = [event("m%03d" % i) for i in range(300)]
    ws.sock.sendall(b"".join(masked_frame(0x1, t.encode()) for t in texts))
    assert [ws.receive() for _ in texts] == texts


def test_a_message_split_across_many_tcp_segments_arrives_whole(server):
    base, _, _ = server
    ws = connect(base)
    text = event("é" * 150)
    data = masked_frame(0x1, text.encode())
    for i in range(0, len(data), 3):
        ws.sock.sendall(data[i:i + 3])
        gevent.sleep(0.001)
    assert ws.receive() == text


def test_a_message_bigger_than_one_read_arrives_whole(server):
    base, _, _ = server
    ws = connect(base)
    text = event("".join("%07d" % i for i in range(40_000)))  # 280 KB
    data = masked_frame(0x1, text.encode())
    for i in range(0, len(data), 9000):
        ws.sock.sendall(data[i:i + 9000])
        gevent.sleep(0.0005)
    ws.send(event("next"))
    assert ws.receive(10) == text
    assert ws.receive() == event("next")


def test_a_fragmented_message_is_reassembled(server):
    base, _, _ = server
    ws = connect(base)
    text = event("in three parts")
    raw = text.encode()
    ws.sock.sendall(masked_frame(0x1, raw[:5], fin=False) + masked_frame(0x9, b"ping")
                    + masked_frame(0x0, raw[5:9], fin=False))
    ws.sock.sendall(masked_frame(0x0, raw[9:]))
    assert ws.recv_frame(5) == (0xA, b"ping")
    assert ws.receive() == text


def test_a_ping_is_answered_with_a_pong_carrying_its_payload(server):
    base, _, _ = server
    ws = connect(base)
    ws.send_frame(0x9, b"are you there")
    assert ws.recv_frame(5) == (0xA, b"are you there")


def test_a_client_that_drops_the_connection_is_closed_and_on_close_runs(server):
    base, recorder, router = server
    ws = connect(base)
    assert len(router.sessions) == 1
    ws.sock.close()  # no close frame
    recorder.wait_for(lambda: recorder.count("close") == 1)
    wait_until(lambda: not router.sessions)
    gevent.sleep(0.1)
    assert recorder.count("close") == 1


def test_a_client_close_frame_is_answered_and_on_close_runs_once(server):
    base, recorder, router = server
    ws = connect(base)
    ws.send_close(1000)
    opcode, payload = ws.recv_frame(5)
    assert opcode == 0x8
    with pytest.raises(WSClosed):
        ws.receive(5)  # then EOF
    recorder.wait_for(lambda: recorder.count("close") == 1)
    assert not router.sessions
    gevent.sleep(0.1)
    assert recorder.count("close") == 1


def test_a_server_side_close_flushes_then_closes_the_websocket_and_on_close_runs(server):
    base, recorder, router = server
    ws = connect(base)
    (session,) = router.sessions.all()
    session.push(["4last words"])
    session.close()
    assert ws.receive() == "4last words"
    with pytest.raises(WSClosed):
        ws.receive(5)  # the close frame
    ws.send_close(1000)
    with pytest.raises(WSClosed):
        ws.receive(5)  # EOF: the server closed its socket after our answer
    recorder.wait_for(lambda: recorder.count("close") == 1)
    gevent.sleep(0.1)
    assert recorder.count("close") == 1


@pytest.mark.parametrize("send", [
    lambda ws: ws.send_frame(0x1, event("unmasked").encode(), mask=False),  # WebSocket error
    lambda ws: ws.send("x not a packet"),                                   # Engine.IO error
], ids=["unmasked-frame", "bad-engine-io-packet"])
def test_a_protocol_error_closes_with_1002_and_on_close_runs(server, send):
    base, recorder, router = server
    ws = connect(base)
    send(ws)
    opcode, payload = ws.recv_frame(5)
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1002))
    recorder.wait_for(lambda: recorder.count("close") == 1)
    wait_until(lambda: not router.sessions)


def test_messages_beyond_max_pending_messages_wait_and_are_handled_in_order(server):
    base, _, _ = server
    ws = connect(base, "slow")
    texts = [event("s%03d" % i) for i in range(100)]
    ws.sock.sendall(b"".join(masked_frame(0x1, t.encode()) for t in texts))
    assert [ws.receive() for _ in texts] == texts


class Broken(geventio.SocketConnection):
    """A connection class whose constructor fails (here: it tries to block)."""

    def __init__(self, *args, **kwargs):
        gevent.sleep(0.01)  # blocking in the event loop is refused by gevent
        super().__init__(*args, **kwargs)


def test_a_connection_constructor_that_fails_refuses_only_that_namespace():
    recorder = Recorder()
    router = geventio.get_router(echo_handler(recorder), resource=SIO,
                                 namespaces={"/broken": Broken})
    with serve(make_application([router])) as base:
        ws = connect(base)
        ws.send("40/broken,")
        assert ws.receive() == '44/broken,{"message":"Internal server error"}'
        ws.send(event("still here"))
        assert ws.receive() == event("still here")


def test_pings_from_a_client_that_does_not_read_wait_for_their_pongs_to_be_written(server):
    # As when a greenlet reads: a pong that cannot be written now pauses reading, instead
    # of each ping leaving a pong (and a greenlet) waiting for the socket.
    base, _, router = server
    ws = connect(base)
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    (session,) = router.sessions.all()
    writer = session.on_push.__self__
    writer.ws._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    chunk = "4" + "x" * 65536
    for _ in range(100):  # until the server's writes would block
        session.push([chunk])
        gevent.sleep(0.002)
        if writer.greenlet is not None:
            break
    assert writer.greenlet is not None
    gc.collect()
    before = live_greenlets()
    for i in range(300):
        ws.send_frame(0x9, b"p%d" % i)
    gevent.sleep(0.3)
    gc.collect()
    assert live_greenlets() - before < 10
    pongs = []
    while len(pongs) < 300:  # and once the client reads, every ping is answered in order
        opcode, payload = ws.recv_frame(5)
        if opcode == 0xA:
            pongs.append(payload)
    assert pongs == [b"p%d" % i for i in range(300)]


def test_after_a_bad_packet_the_connection_ends_as_soon_as_the_client_answers_the_close(server):
    base, recorder, router = server
    ws = connect(base)
    ws.send("x not a packet")
    opcode, payload = ws.recv_frame(5)
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1002))
    ws.send_close(1002)
    with pytest.raises(WSClosed):
        ws.receive(1)  # EOF now, not after the server's close_timeout (5 s)
