"""permessage-deflate with real peers (issue 12).

* socket.io-client 4.x and 2.x in Node (engine.io-client offers permessage-deflate through
  ``ws``, threshold 1024) and 4.x in headless Chromium (which always offers it): with
  ``per_message_deflate`` on, the 101 agrees the extension and a large event goes both
  ways intact, three times (context carried across messages), for the defaults and for no
  context takeover with 10-bit windows; the real socket.io 0.6 client in Chromium likewise
  over the 0.6 websocket transport; with it off (the default) the same offer gets no
  extension, and works.
* Node's own ``ws`` against ``geventio.wsio.upgrade``: the server's WebSocket shows what
  was agreed (``extensions``, ``deflate``) and keeps no zlib state with no context takeover;
  a message it sends fragmented is inflated whole. wsproto (python-engineio's WebSocket
  library) agrees 9-bit windows and no client context takeover.
* Raw clients show the bytes: RSV1 on the server's large frames (Engine.IO and the 0.6
  websocket transport), and what a hostile client gets: 1002 for RSV1 without the extension
  or on a continuation or control frame, 1009 for a deflate bomb, 1007 for invalid data,
  while another client on the same server carries on.
"""
import json
import socket
import struct
import zlib

import pytest

import geventio
from geventio.protocol import permessage_deflate
from geventio.protocol.permessage_deflate import DeflateOptions, WebSocketDeflate
from geventio.wsio import upgrade
from helpers.browser import requires_browser, run_pages
from helpers.node import node_available, run_json
from helpers.server import make_application, serve, serve_wsgi
from helpers.static import static_app
from helpers.wire06 import RFC6455Client

pytestmark = pytest.mark.timeout(90)
needs_node = pytest.mark.skipif(not node_available(), reason="needs node and node_modules")

BIG = "".join("line %d of a large event, compressible text\n" % i for i in range(2000))
TAIL = b"\x00\x00\xff\xff"


class Echo(geventio.SocketConnection):
    """Echoes the ``echo`` event (Engine.IO clients) and every 0.6 message."""

    @geventio.event
    def echo(self, data):
        self.emit("echo", data)

    @geventio.event
    def shout(self, data):
        self.router.emit("echo", data)

    def on_message(self, message):
        self.send(message)


SMALL_NO_CONTEXT = {"server_no_context_takeover": True, "client_no_context_takeover": True,
                    "server_max_window_bits": 10, "client_max_window_bits": 10, "mem_level": 5}


def serve_echo(setting):
    router = geventio.get_router(Echo, {"per_message_deflate": setting})
    page = static_app({"/echo.html": ("text/html; charset=utf-8", PAGE)})
    return serve(make_application([router], fallback=page))


@pytest.fixture
def base_on():
    with serve_echo(True) as base:
        yield base


@pytest.fixture(params=["defaults", "no-context-10-bits"])
def agreed(request):
    """(base URL, the 101's Sec-WebSocket-Extensions) for two settings."""
    if request.param == "defaults":
        setting, header = True, "permessage-deflate"
    else:
        setting = SMALL_NO_CONTEXT
        header = ("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                  "server_max_window_bits=10; client_max_window_bits=10")
    with serve_echo(setting) as base:
        yield base, header


@pytest.fixture
def base_off():
    with serve(make_application([geventio.get_router(Echo)])) as base:
        yield base


# --------------------------------------------------------------------------- Node clients

NODE_CLIENT = r'''
const [modulePath, wsPath, url, transports] = process.argv.slice(1);
const WS = require(wsPath);
const result = {header: null};
const emit = WS.prototype.emit;
WS.prototype.emit = function (name, ...args) {  // the 101 as the client got it
  if (name === "upgrade") result.header = args[0].headers["sec-websocket-extensions"] || null;
  return emit.call(this, name, ...args);
};
const mod = require(modulePath);
const io = mod.io || mod;
const big = Array.from({length: 2000},
  (_, i) => `line ${i} of a large event, compressible text\n`).join("");
const s = io(url, {transports: transports.split(","), reconnection: false, forceNew: true});
// three rounds: each side's context (when kept) carries from one message to the next
let round = 0;
const sent = () => big + "round " + round;
const start = () => s.emit("echo", sent());
// over polling first: start once upgraded to the WebSocket
s.on("connect", () => (s.io.engine.transport.name === "websocket" ? start()
                       : s.io.engine.once("upgrade", start)));
s.on("echo", (text) => {
  result.intact = (result.intact !== false) && text === sent();
  result.length = text.length;
  if (++round < 3) { s.emit("echo", sent()); return; }
  result.rounds = round;
  result.extensions = s.io.engine.transport.ws.extensions;
  console.log(JSON.stringify(result));
  s.close();
});
s.on("connect_error", (e) => { console.log(JSON.stringify({error: String(e)})); s.close(); });
'''

CLIENTS = {
    "socket.io-client 4": ("socket.io-client", "ws"),
    "socket.io-client 2": ("socket.io-client-v2", "socket.io-client-v2/node_modules/ws"),
}


def run_node_client(name, base, transports="websocket"):
    module, ws = CLIENTS[name]
    return run_json(["node", "-e", NODE_CLIENT, module, ws, base, transports], 40)


@needs_node
@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_node_client_agrees_deflate_and_large_events_round_trip(name, agreed):
    base, header = agreed
    result = run_node_client(name, base)
    assert result.get("header") == header, result
    assert result["intact"] and result["rounds"] == 3
    assert result["length"] == len(BIG) + len("round 2")
    assert "permessage-deflate" in str(result["extensions"])


@needs_node
@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_a_polling_session_upgraded_to_websocket_agrees_deflate(name, base_on):
    result = run_node_client(name, base_on, "polling,websocket")
    assert result.get("header") == "permessage-deflate", result
    assert result["intact"] and result["rounds"] == 3


@needs_node
@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_with_the_setting_off_the_offer_gets_no_extension_and_works(name, base_off):
    result = run_node_client(name, base_off)
    assert result.get("header") is None, result
    assert result["intact"] and result["rounds"] == 3


WS_CLIENT = r'''
const WebSocket = require("ws");
const [url, options] = process.argv.slice(1);
const big = "x".repeat(50000) + "end";
const ws = new WebSocket(url, {perMessageDeflate: JSON.parse(options)});
let header = null;
ws.on("upgrade", (res) => { header = res.headers["sec-websocket-extensions"] || null; });
ws.on("open", () => ws.send(big));
ws.on("message", (data) => {
  console.log(JSON.stringify({header, intact: data.toString() === big}));
  ws.close();
});
ws.on("error", (e) => console.log(JSON.stringify({error: String(e)})));
'''


@needs_node
@pytest.mark.parametrize("client_options, header, state", [
    ({"threshold": 0}, "permessage-deflate; client_max_window_bits=10", (True, True)),
    ({"threshold": 0, "serverNoContextTakeover": True, "clientNoContextTakeover": True},
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "client_max_window_bits=10", (False, False)),
])
def test_the_server_websocket_shows_what_node_ws_agreed(client_options, header, state):
    deflate = WebSocketDeflate(DeflateOptions(threshold=0, client_max_window_bits=10))
    seen = []

    def app(environ, start_response):
        ws = upgrade(environ, start_response, deflate=deflate)
        while (message := ws.receive()) is not None:
            ws.send(message)
            seen.append((ws.extensions, ws.deflate.memory_state))
        return []

    with serve_wsgi(app) as base:
        result = run_json(["node", "-e", WS_CLIENT, base.replace("http", "ws") + "/",
                           json.dumps(client_options)], 30)
    assert result == {"header": header, "intact": True}
    assert seen == [(header, state)]


WS_FRAGMENTS = r'''
const WebSocket = require("ws");
const ws = new WebSocket(process.argv[1], {perMessageDeflate: {threshold: 0}});
const parts = ["first part ".repeat(500), "second part ".repeat(500), "end"];
ws.on("open", () => parts.forEach((p, i) => ws.send(p, {fin: i === parts.length - 1})));
ws.on("message", (data) => {
  console.log(JSON.stringify({intact: data.toString() === parts.join("")}));
  ws.close();
});
ws.on("error", (e) => console.log(JSON.stringify({error: String(e)})));
'''


@needs_node
def test_a_fragmented_message_node_ws_compressed_is_inflated_whole():
    deflate = WebSocketDeflate(DeflateOptions())

    def app(environ, start_response):
        ws = upgrade(environ, start_response, deflate=deflate)
        while (message := ws.receive()) is not None:
            ws.send(message)
        return []

    with serve_wsgi(app) as base:
        result = run_json(["node", "-e", WS_FRAGMENTS, base.replace("http", "ws") + "/"], 30)
    assert result == {"intact": True}


def wsproto_echo(base, extension, messages):
    """Connect with wsproto (python-engineio's WebSocket library) offering ``extension``;
    send each message and read its echo. Returns (the 101's extensions, the echoes)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Message, Request

    host, port = base.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    conn = WSConnection(ConnectionType.CLIENT)
    sock.sendall(conn.send(Request(host=host, target="/", extensions=[extension])))
    accepted, echoes, parts = None, [], []

    def pump():
        conn.receive_data(sock.recv(65536))
        for event in conn.events():
            if isinstance(event, AcceptConnection):
                return event
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    echoes.append("".join(parts))
                    parts.clear()
            elif isinstance(event, CloseConnection):
                raise AssertionError("closed: %s %s" % (event.code, event.reason))
        return None

    while accepted is None:
        accepted = pump()
    for message in messages:
        sock.sendall(conn.send(Message(data=message)))
        wanted = len(echoes) + 1
        while len(echoes) < wanted:
            pump()
    sock.close()
    return accepted.extensions, echoes


def test_wsproto_with_9_bit_windows_and_no_client_context_round_trips():
    from wsproto.extensions import PerMessageDeflate

    deflate = WebSocketDeflate(DeflateOptions(threshold=0))
    agreed = []

    def app(environ, start_response):
        ws = upgrade(environ, start_response, deflate=deflate)
        agreed.append(ws.extensions)
        while (message := ws.receive()) is not None:
            ws.send(message)
        return []

    offer = PerMessageDeflate(client_no_context_takeover=True, client_max_window_bits=9,
                              server_max_window_bits=9)
    messages = [BIG, BIG[::-1], "short", BIG + "!"]
    with serve_wsgi(app) as base:
        extensions, echoes = wsproto_echo(base, offer, messages)
    assert [e.name for e in extensions] == ["permessage-deflate"]
    assert agreed == ["permessage-deflate; client_no_context_takeover; "
                      "server_max_window_bits=9; client_max_window_bits=9"]
    assert echoes == messages


# --------------------------------------------------------------------------- Chromium

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="/socket.io.v4.js"></script></head><body><script>
var result = window.__result = {};
var big = '';
for (var i = 0; i < 2000; i++) big += 'line ' + i + ' of a large event, compressible text\\n';
var s = io({transports: ['websocket'], reconnection: false});
var round = 0;
function sent() { return big + 'round ' + round; }
s.on('connect', function () { s.emit('echo', sent()); });
s.on('echo', function (text) {
  result.intact = result.intact !== false && text === sent();
  if (++round < 3) { s.emit('echo', sent()); return; }
  result.rounds = round;
  result.extensions = s.io.engine.transport.ws.extensions;
  s.close();
  window.__done = true;
});
s.on('connect_error', function (e) { result.error = e.message; window.__done = true; });
</script></body></html>"""


@requires_browser
def test_chromium_agrees_deflate_and_large_events_round_trip(agreed):
    base, header = agreed
    run = run_pages(base + "/echo.html", timeout=30)
    result = run["pages"][0]["result"]
    assert result == {"intact": True, "rounds": 3, "extensions": header}, run


PAGE_06 = """<!doctype html><html><head><meta charset="utf-8">
<script src="/socket.io.js"></script></head><body><script>
var result = window.__result = {};
var big = '';
for (var i = 0; i < 2000; i++) big += 'line ' + i + ' of a large event, compressible text\\n';
var s = new io.Socket(location.hostname, {port: location.port, resource: 'socket.io',
                                          transports: ['websocket'], rememberTransport: false,
                                          reconnect: false});
var round = 0;
s.on('connect', function () { s.send(big + round); });
s.on('message', function (text) {
  result.intact = result.intact !== false && text === big + round;
  if (++round < 3) { s.send(big + round); return; }
  result.rounds = round;
  result.extensions = s.transport.socket.extensions;
  s.disconnect();
  window.__done = true;
});
s.connect();
</script></body></html>"""


@requires_browser
def test_the_real_06_client_in_chromium_agrees_deflate_over_its_websocket():
    router = geventio.get_router(Echo, {"per_message_deflate": True})
    page = static_app({"/06.html": ("text/html; charset=utf-8", PAGE_06)})
    with serve(make_application([router], fallback=page)) as base:
        run = run_pages(base + "/06.html", timeout=30)
    result = run["pages"][0]["result"]
    assert result == {"intact": True, "rounds": 3, "extensions": "permessage-deflate"}, run


# --------------------------------------------------------------------------- raw clients

class RawClient(RFC6455Client):
    """A WebSocket client that offers permessage-deflate and shows each frame's first byte."""

    def __init__(self, base, path, offer="permessage-deflate; client_max_window_bits"):
        super().__init__(base, path, headers={"Sec-WebSocket-Extensions": offer} if offer
                         else None)
        assert self.status == 101

    def send_raw(self, b0, payload):
        """A masked frame with first byte ``b0`` (FIN, RSV bits, opcode) as given."""
        key = b"\x11\x22\x33\x44"
        n = len(payload)
        head = bytes([b0]) + (bytes([0x80 | n]) if n < 126 else
                              bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536 else
                              bytes([0x80 | 127]) + struct.pack("!Q", n))
        self.sock.sendall(head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload)))

    def send_compressed(self, text):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.send_raw(0xC1, (c.compress(text.encode()) + c.flush(zlib.Z_SYNC_FLUSH))[:-4])

    def next_frame(self, timeout=10):
        """(first byte, payload) of the next frame that is not a ping."""
        while True:
            b0, b1 = self.reader.read(2, timeout)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.reader.read(2, timeout))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.reader.read(8, timeout))[0]
            payload = self.reader.read(n, timeout) if n else b""
            if b0 & 0x0F != 0x9:
                return b0, payload

    def close_code_received(self):
        """The code of the server's close frame, skipping messages before it."""
        while True:
            b0, payload = self.next_frame()
            if b0 & 0x0F == 0x8:
                return struct.unpack("!H", payload[:2])[0]


def engineio_client(base, offer="permessage-deflate; client_max_window_bits"):
    client = RawClient(base, "/socket.io/?EIO=4&transport=websocket", offer)
    b0, opening = client.next_frame()
    assert b0 == 0x81 and opening.startswith(b"0{")  # small: plain
    client.send("40")
    assert client.next_frame()[1].startswith(b"40{")
    return client


def echo_round_trip(client):
    """Send a compressed echo event; return the first byte of the answer and its text."""
    client.send_compressed('42["echo",%s]' % json.dumps(BIG))
    b0, payload = client.next_frame()
    text = zlib.decompressobj(-15).decompress(payload + TAIL) if b0 & 0x40 else payload
    return b0, text.decode()


def test_engineio_large_frames_carry_rsv1_and_small_ones_do_not(base_on):
    client = engineio_client(base_on)
    assert client.headers["sec-websocket-extensions"] == "permessage-deflate"
    b0, text = echo_round_trip(client)
    assert b0 == 0xC1 and text == '42["echo",%s]' % json.dumps(BIG)
    client.close()


def test_offers_on_two_header_lines_are_read_as_one_list(base_on):
    client = RFC6455Client(base_on, "/socket.io/?EIO=4&transport=websocket", headers={
        "Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=7",
        "sec-websocket-extensions": "permessage-deflate; server_max_window_bits=11"})
    assert client.headers["sec-websocket-extensions"] == \
        "permessage-deflate; server_max_window_bits=11"
    client.sock.close()


def test_the_06_websocket_transport_compresses_large_messages(base_on):
    client = RawClient(base_on, "/socket.io/websocket")
    assert client.headers["sec-websocket-extensions"] == "permessage-deflate"
    b0, first = client.next_frame()
    assert b0 == 0x81 and first.startswith(b"~m~")  # the session id: small, plain
    message = "~m~%d~m~%s" % (len(BIG), BIG)
    client.send_compressed(message)
    b0, payload = client.next_frame()
    assert b0 == 0xC1
    assert zlib.decompressobj(-15).decompress(payload + TAIL).decode() == message
    client.close()


def test_the_06_websocket_without_an_offer_is_plain(base_on):
    client = RawClient(base_on, "/socket.io/websocket", offer=None)
    assert "sec-websocket-extensions" not in client.headers
    client.next_frame()
    message = "~m~%d~m~%s" % (len(BIG), BIG)
    client.send(message)
    assert client.next_frame() == (0x81, message.encode())
    client.close()


def bomb():
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (c.compress(b"\x00" * 20_000_000) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


@pytest.mark.parametrize("offer, frames, code", [
    (None, [(0xC1, b"\x00")], 1002),  # RSV1 with nothing negotiated
    ("permessage-deflate", [(0x01, b"4"), (0xC0, b"2")], 1002),  # RSV1 on a continuation
    ("permessage-deflate", [(0xC9, b"")], 1002),  # RSV1 on a ping
    ("permessage-deflate", [(0xC1, bomb())], 1009),  # 20 MB of zeros in ~20 KB
    ("permessage-deflate", [(0xC1, b"\xff\xfe\xfd not deflate")], 1007),
], ids=["rsv1-unnegotiated", "rsv1-continuation", "rsv1-ping", "bomb", "invalid-data"])
def test_a_hostile_client_gets_its_close_code_and_others_carry_on(base_on, offer, frames, code):
    good = engineio_client(base_on)
    hostile = engineio_client(base_on, offer)
    for b0, payload in frames:
        hostile.send_raw(b0, payload)
    assert hostile.close_code_received() == code
    b0, text = echo_round_trip(good)
    assert b0 == 0xC1 and text.endswith(json.dumps(BIG) + "]")
    good.close()


def test_with_no_context_takeover_a_broadcast_is_compressed_once(base_on, monkeypatch):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    shout = c.compress(b'42["shout",%s]' % json.dumps(BIG).encode()) + c.flush(zlib.Z_SYNC_FLUSH)
    made = []  # the deflate objects the server makes
    compressobj = permessage_deflate.zlib.compressobj

    def counting(*args):
        made.append(args)
        return compressobj(*args)

    monkeypatch.setattr(permessage_deflate.zlib, "compressobj", counting)
    offer = "permessage-deflate; server_no_context_takeover"
    clients = [engineio_client(base_on, offer) for _ in range(3)]
    assert all(c.headers["sec-websocket-extensions"] == "permessage-deflate; "
               "server_no_context_takeover" for c in clients)
    clients[0].send_raw(0xC1, shout[:-4])
    frames = [c.next_frame() for c in clients]
    assert frames[0][0] == 0xC1 and frames == [frames[0]] * 3
    assert zlib.decompressobj(-15).decompress(frames[0][1] + TAIL).decode() == \
        '42["echo",%s]' % json.dumps(BIG)
    assert len(made) == 1
    for c in clients:
        c.close()
