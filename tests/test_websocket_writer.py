"""Engine.IO over WebSocket when the socket pushes back: order is kept, nothing is lost."""
import base64
import os
import socket
import struct

import gevent

from helpers.eio_client import echo_engine_router
from helpers.server import make_application, serve


def fast_mask(payload, key):
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def frame(opcode, payload):
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n)
    return head + key + fast_mask(payload, key)


def open_ws(base, rcvbuf=None):
    """A raw WebSocket to the echo router: (socket, buffered reader), after the 101."""
    host, port = base.split("//")[1].split(":")
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect
    sock.settimeout(20)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s:%s\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % (host, port, key)).encode())
    reader = sock.makefile("rb")
    while reader.readline() not in (b"\r\n", b""):
        pass
    return sock, reader


def read_text(reader):
    b0, b1 = reader.read(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.read(8))[0]
    return reader.read(n).decode()


def test_echoes_to_a_client_that_stops_reading_arrive_later_complete_and_in_order(monkeypatch):
    from geventio.transports import outbox
    drains = []
    original = outbox.OutboxWriter._drain

    def counting(self, *args):
        drains.append(1)
        return original(self, *args)
    monkeypatch.setattr(outbox.OutboxWriter, "_drain", counting)
    router = echo_engine_router(max_http_buffer_size=1_000_000)
    with serve(make_application([router.route()])) as base:
        sock, reader = open_ws(base, rcvbuf=4096)
        assert read_text(reader).startswith("0{")
        messages = ["4%04d" % i + "x" * 100_000 for i in range(100)]  # 10 MB: more than
        # the server's send buffer and our 4 KiB receive buffer hold
        sender = gevent.spawn(sock.sendall, b"".join(frame(0x1, m.encode()) for m in messages))
        gevent.sleep(0.5)  # not reading: the server's writes must wait for us
        received = [read_text(reader) for _ in messages]
        sender.get(timeout=10)
        assert [m[:5] for m in received] == [m[:5] for m in messages]
        assert received == messages
        assert drains, "the socket never pushed back: the would-block path was not exercised"
        sock.close()


def test_frames_sent_in_the_same_write_as_the_handshake_are_not_lost():
    router = echo_engine_router()
    with serve(make_application([router.route()])) as base:
        host, port = base.split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        handshake = ("GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s:%s\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n" % (host, port, key)).encode()
        sock.sendall(handshake + b"".join(frame(0x1, b"4m%d" % i) for i in range(60)))
        reader = sock.makefile("rb")
        while reader.readline() not in (b"\r\n", b""):
            pass
        texts = []
        while len(texts) < 61:
            b0, b1 = reader.read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", reader.read(2))[0]
            texts.append(reader.read(n).decode())
        assert texts[0].startswith("0{")
        assert texts[1:] == ["4m%d" % i for i in range(60)]
        sock.close()


def test_a_closed_session_whose_client_stopped_reading_is_dropped_after_the_flush_deadline(
        monkeypatch):
    from geventio.transports import outbox
    monkeypatch.setattr(outbox, "FLUSH_DEADLINE", 0.5)
    router = echo_engine_router(max_http_buffer_size=1_000_000)
    with serve(make_application([router.route()])) as base:
        sock, reader = open_ws(base, rcvbuf=4096)
        assert read_text(reader).startswith("0{")
        big = "4" + "x" * 100_000
        for _ in range(60):  # 6 MB of echoes: far more than the buffers hold; never read
            sock.sendall(frame(0x1, big.encode()))
        gevent.sleep(0.3)
        [session] = list(router.sessions.all())
        writer = session.on_push.__self__
        session.close("test")  # its last messages cannot leave: the client does not read
        gevent.sleep(0.2)
        assert not writer.done.is_set()  # still trying to flush
        gevent.sleep(1.5)
        assert writer.done.is_set() and writer.greenlet is None  # given up: nothing left
        assert session.closed and not router.sessions
        # The server gave up: the connection is gone (reading now ends in EOF or a reset).
        sock.settimeout(10)
        try:
            while sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
