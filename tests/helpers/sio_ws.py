"""A minimal Socket.IO client over an Engine.IO WebSocket, in the test process (gevent).

``SioClient(base, eio=4)`` speaks Socket.IO v5 (socket.io-client 3.x/4.x); ``eio=3`` speaks v4
as socket.io-client 2.x does (the server connects it to "/" by itself). It answers pings,
reassembles binary attachments, acknowledges events that ask for it (with ``ack``), and
keeps everything it received in ``.events`` as ``[event, *args]`` lists.
"""
import json

import gevent
import gevent.event

from geventio.protocol import socketio as sio

from .eio_client import WSClient, WSClosed


class SioClient:
    """One Socket.IO client connected to one namespace over a WebSocket."""

    def __init__(self, base, namespace="/", eio=4, ack=None, resource="socket.io"):
        self.namespace = namespace
        self.eio = eio
        self.ack = ack
        self.events = []
        self.disconnected = gevent.event.Event()
        self._new = gevent.event.Event()
        self._decoder = sio.Decoder()
        self._acks = {}
        self._next_ack = 0
        self.ws = WSClient(base, "/%s/?EIO=%d&transport=websocket" % (resource, eio))
        opening = self.ws.receive()
        assert opening.startswith("0"), opening
        self.engine_sid = json.loads(opening[1:])["sid"]
        self._connected = gevent.event.AsyncResult()
        if eio == 4:
            self.ws.send("40" if namespace == "/" else "40%s," % namespace)
        elif namespace != "/":
            self.ws.send("40%s" % namespace)
        self._reader = gevent.spawn(self._read)
        self.sid = self._connected.get(timeout=5)

    def _read(self):
        try:
            while True:
                message = self.ws.receive(timeout=60)
                if isinstance(message, str):
                    if message == "2":
                        self.ws.send("3")
                        continue
                    if message.startswith("1"):
                        break
                    if not message.startswith("4"):
                        continue
                    packet = self._decoder.feed(message[1:])
                else:
                    packet = self._decoder.feed(message)
                if packet is not None:
                    self._handle(packet)
        except (WSClosed, TimeoutError, OSError):
            pass
        finally:
            self.disconnected.set()
            self._new.set()

    def _handle(self, packet):
        if packet.namespace != self.namespace:
            return
        if packet.type == sio.CONNECT:
            data = packet.data or {}
            self.connect_data = data
            self._connected.set(data.get("sid") if isinstance(data, dict) and
                                data.get("sid") else self.engine_sid)
        elif packet.type == sio.DISCONNECT:
            self.events.append(["$disconnect"])
            self.disconnected.set()
        elif packet.type == sio.ACK:
            waiter = self._acks.pop(packet.id, None)
            if waiter is not None:
                waiter.set(packet.data)
        elif packet.type == sio.EVENT:
            self.events.append(list(packet.data))
            if packet.id is not None:
                answer = self.ack if self.ack is not None else "ack-" + str(self.sid)
                self.send_packet(sio.Packet(sio.ACK, self.namespace, [answer], packet.id))
        self._new.set()

    def send_packet(self, packet):
        for frame in sio.encode(packet):
            self.ws.send("4" + frame if isinstance(frame, str) else frame)

    def emit(self, event, *args):
        self.send_packet(sio.Packet(sio.EVENT, self.namespace, [event, *args]))

    def call(self, event, *args, timeout=10.0):
        """Emit asking for an acknowledgement; return its arguments (a list)."""
        ack_id = self._next_ack
        self._next_ack += 1
        waiter = self._acks[ack_id] = gevent.event.AsyncResult()
        self.send_packet(sio.Packet(sio.EVENT, self.namespace, [event, *args], ack_id))
        return waiter.get(timeout=timeout)

    def named(self, event):
        """The events named ``event`` received so far."""
        return [e for e in self.events if e[0] == event]

    def wait_for(self, event, count=1, timeout=5.0):
        """Block until ``count`` ``event``s arrived; return them."""
        with gevent.Timeout(timeout, AssertionError(
                "fewer than %d %r events; got %r" % (count, event, self.events))):
            while len(self.named(event)) < count:
                self._new.clear()
                if len(self.named(event)) >= count:
                    break
                self._new.wait()
                if self.disconnected.is_set():
                    gevent.sleep(0.01)
        return self.named(event)

    def nothing(self, event, seconds=0.3):
        """True if no ``event`` arrives within ``seconds``."""
        gevent.sleep(seconds)
        return not self.named(event)

    def close(self):
        self._reader.kill(block=False)
        try:
            self.ws.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
