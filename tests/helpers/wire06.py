"""The socket.io 0.6 client's side of the wire, written from its sources
(node_modules/socket.io/support/socket.io-client/lib/): its framing (transport.js), its
form posts (xhr.js, jsonp-polling.js), the streaming responses it reads (xhr-multipart.js,
htmlfile.js) and its sockets (websocket.js in a browser: RFC 6455; flashsocket.js through
the Flash bridge: hixie-76).

Everything here is independent of geventio's own codec, so the tests check the server
against the client rather than against itself.
"""
import base64
import hashlib
import json
import os
import re
import socket
import struct
import time
from urllib.parse import quote, urlsplit

from . import NODE_MODULES
from .node import run_json
from .wire import connect

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) wire-client (socket.io-client 0.6.3 emulation)"
CLIENT_LIB = os.path.join(NODE_MODULES, "socket.io", "support", "socket.io-client", "lib")

# -- transport.js: ~m~ framing, lengths in UTF-16 code units --------------------------------


def js_length(text):
    """JavaScript's ``String.length``: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def encode(*messages):
    """``Transport.prototype.encode``: each message as ``~m~`` + length + ``~m~`` + text;
    a dict becomes ``~j~`` + JSON.stringify(dict)."""
    out = []
    for message in messages:
        if isinstance(message, dict):
            message = "~j~" + json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        out.append("~m~%d~m~%s" % (js_length(message), message))
    return "".join(out)


def decode(data):
    """``Transport.prototype.decode``: the messages of a payload, sliced in UTF-16 units.

    Stops at the first position that does not start with ``~m~`` (as the client does).
    """
    units = data.encode("utf-16-le", "surrogatepass")
    messages = []
    pos = 0
    marker = "~m~".encode("utf-16-le")
    while pos < len(units):
        if units[pos:pos + 6] != marker:
            break
        pos += 6
        digits = ""
        while pos < len(units) and units[pos:pos + 2].decode("utf-16-le").isdigit():
            digits += units[pos:pos + 2].decode("utf-16-le")
            pos += 2
        pos += 6  # the second ~m~ is skipped by length, not checked
        n = int(digits or 0)
        messages.append(units[pos:pos + 2 * n].decode("utf-16-le", "surrogatepass"))
        pos += 2 * n
    return messages


def heartbeat_number(message):
    """N for a ``~h~N`` message, else None."""
    if message.startswith("~h~"):
        return int(message[3:])
    return None


# -- request bodies --------------------------------------------------------------------------


def xhr_form(payload):
    """The body xhr.js POSTs: ``'data=' + encodeURIComponent(payload)``."""
    return ("data=" + quote(payload, safe="~()*!.'-_")).encode("ascii")


XHR_POST_HEADERS = {"Content-type": "application/x-www-form-urlencoded; charset=utf-8"}


def html_form(payload):
    """The body a browser submits for jsonp-polling.js's hidden ``<form method=POST>`` with
    ``<textarea name="data">``: line breaks normalized to CR LF, then
    application/x-www-form-urlencoded (``+`` for spaces, UTF-8 percent-escapes)."""
    text = re.sub(r"\r\n|\r|\n", "\r\n", payload)
    encoded = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch == " ":
            encoded.append("+")
        elif ch.isascii() and (ch.isalnum() or ch in "*-._"):
            encoded.append(ch)
        else:
            encoded.append("%%%02X" % byte)
    return ("data=" + "".join(encoded)).encode("ascii")


HTML_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "text/html,application/xhtml+xml,*/*"}


# -- raw HTTP --------------------------------------------------------------------------------


def host_of(base):
    parts = urlsplit(base)
    return "%s:%d" % (parts.hostname, parts.port)


def request_bytes(base, method, path, headers=None, body=b""):
    """An HTTP/1.1 request as the client's browser writes it (header order kept)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host_of(base),
             "Connection: keep-alive", "User-Agent: %s" % USER_AGENT]
    all_headers = {"Accept": "*/*"}
    all_headers.update(headers or {})
    for name, value in all_headers.items():
        lines.append("%s: %s" % (name, value))
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HTTPStream:
    """A raw connection reading one streaming HTTP response as it arrives.

    ``status`` / ``headers`` (lower-case names) / ``head`` are set on construction;
    :meth:`read_chunk` returns each chunk of a chunked body as sent (None after the last),
    :meth:`read_until` reads the decoded body up to a marker.
    """

    def __init__(self, base, method, path, headers=None, body=b"", timeout=10):
        self.sock = connect(base, timeout)
        self.sock.sendall(request_bytes(base, method, path, headers, body))
        self._raw = b""
        self.body = b""  # decoded body read but not yet consumed by read_until
        self.ended = False
        self.head = self._read_raw_until(b"\r\n\r\n", timeout)
        lines = self.head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.header_list = [tuple(part.strip() for part in line.split(":", 1))
                            for line in lines[1:] if line]
        self.headers = {name.lower(): value for name, value in self.header_list}
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("nothing more arrived; unparsed %r" % self._raw[-200:])
        self.sock.settimeout(remaining)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed; unparsed %r" % self._raw[-200:])
        self._raw += data

    def _read_raw_until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self._raw:
            self._fill(deadline)
        i = self._raw.index(marker) + len(marker)
        out, self._raw = self._raw[:i], self._raw[i:]
        return out

    def _read_raw(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self._raw) < n:
            self._fill(deadline)
        out, self._raw = self._raw[:n], self._raw[n:]
        return out

    def read_chunk(self, timeout=10):
        """The next chunk's data; None once the terminating zero-length chunk arrived."""
        assert self.chunked, "not a chunked response: %r" % self.head
        if self.ended:
            return None
        size_line = self._read_raw_until(b"\r\n", timeout)
        size = int(size_line.split(b";")[0], 16)
        data = self._read_raw(size, timeout)
        assert self._read_raw(2, timeout) == b"\r\n", "chunk data not followed by CRLF"
        if size == 0:
            self.ended = True
            return None
        return data

    def _more_body(self, timeout):
        if self.chunked:
            chunk = self.read_chunk(timeout)
            if chunk is None:
                raise EOFError("the response ended; body left %r" % self.body[-200:])
            self.body += chunk
        else:
            self._fill(time.monotonic() + timeout)
            self.body += self._raw
            self._raw = b""

    def read_until(self, marker, timeout=10):
        """Decoded body up to and including ``marker`` (consumed)."""
        deadline = time.monotonic() + timeout
        while marker not in self.body:
            self._more_body(max(deadline - time.monotonic(), 0.001))
        i = self.body.index(marker) + len(marker)
        out, self.body = self.body[:i], self.body[i:]
        return out

    def read_to_end(self, timeout=10):
        """The rest of the decoded body, until the response ends."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._more_body(max(deadline - time.monotonic(), 0.001))
        except EOFError:
            pass
        out, self.body = self.body, b""
        return out

    def close(self):
        self.sock.close()


# -- WebSocket clients -----------------------------------------------------------------------


class _SocketReader:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def read(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("waited for %d bytes, have %r" % (n, self.buffer[-100:]))
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                raise EOFError("connection closed; have %r" % self.buffer[-100:])
            self.buffer += data
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def read_until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no %r in %r" % (marker, self.buffer[-100:]))
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed; have %r" % self.buffer[-100:])
            self.buffer += data
        i = self.buffer.index(marker) + len(marker)
        out, self.buffer = self.buffer[:i], self.buffer[i:]
        return out

    def at_eof(self, timeout):
        """True if the peer closes the connection within ``timeout`` (data is kept)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not data:
                return True
            self.buffer += data


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(p.strip() for p in line.split(":", 1)) for line in lines[1:] if line]
    return lines[0], headers


class RFC6455Client:
    """A browser's native WebSocket (RFC 6455): masked frames from a raw socket."""

    framing = "rfc6455"

    def __init__(self, base, path, headers=None, timeout=10):
        self.sock = connect(base, timeout)
        self.reader = _SocketReader(self.sock)
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host_of(base), "Connection: Upgrade",
                 "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                 "Sec-WebSocket-Key: %s" % self.key]
        lines += ["%s: %s" % item for item in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = self.reader.read_until(b"\r\n\r\n", timeout)
        self.status_line, self.header_list = _parse_head(head)
        self.headers = {k.lower(): v for k, v in self.header_list}
        self.status = int(self.status_line.split()[1])
        self.close_code = None
        self.close_sent = False

    @property
    def expected_accept(self):
        digest = hashlib.sha1((self.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        return base64.b64encode(digest).decode()

    def send_frame(self, opcode, payload, fin=True, mask=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        maskbit = 0x80 if mask else 0
        if n < 126:
            head += bytes([maskbit | n])
        elif n < 65536:
            head += bytes([maskbit | 126]) + struct.pack("!H", n)
        else:
            head += bytes([maskbit | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def send(self, text):
        """One text message."""
        self.send_frame(0x1, text.encode("utf-8"))

    def send_binary(self, data):
        self.send_frame(0x2, data)

    def send_close(self, code=1000):
        self.close_sent = True
        try:
            self.send_frame(0x8, struct.pack("!H", code) if code is not None else b"")
        except OSError:
            pass  # the server may already have dropped the connection

    def recv_frame(self, timeout=10):
        """(opcode, payload) of the next frame; server frames must not be masked."""
        b0, b1 = self.reader.read(2, timeout)
        assert not b1 & 0x80, "the server masked a frame"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.reader.read(2, timeout))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.reader.read(8, timeout))[0]
        payload = self.reader.read(n, timeout) if n else b""
        assert b0 & 0x80, "fragmented server frames are not expected here"
        return b0 & 0x0F, payload

    def recv(self, timeout=10):
        """The next text message; None when the server sent its close frame (its code is in
        ``close_code``) or dropped the connection."""
        while True:
            try:
                opcode, payload = self.recv_frame(timeout)
            except EOFError:
                return None
            if opcode == 0x1:
                return payload.decode("utf-8")
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                if not self.close_sent:  # a browser answers the closing handshake
                    self.send_close(self.close_code if payload else None)
                return None
            if opcode == 0x9:
                self.send_frame(0xA, payload)
                continue
            raise AssertionError("unexpected frame opcode 0x%x" % opcode)

    def closed_by_server(self, timeout=5):
        """True when the connection ends (after the server's close frame) within timeout."""
        return self.reader.at_eof(timeout)

    def close(self):
        self.sock.close()


#: key1, key2, key3 of the flashsocket handshake in transcripts-0.6/flashsocket.txt, and the
#: 16-byte answer the reference server computed for them.
FLASH_KEY1 = 'nr3 3 7xz0K*2;\\ 68x  3 " ^63'
FLASH_KEY2 = "^1fPG , DM939`8683u\\L48M"
FLASH_KEY3 = b"\x13\xc8v\xe6(\x9a`\x96"
FLASH_ANSWER = b"\xc7\xcf\x1a\xdcZ\xd22\xc8\x83\xcd9h\xda!\x18\x14"


#: the same for the hixie-76 websocket handshake in transcripts-0.6/websocket.txt.
WS_KEY1 = '7 0"31   1  97  3/6L'
WS_KEY2 = "15 8ELLd')3t549465"
WS_KEY3 = b"\x8a\xf2+ \x12X\xbd\xf1"
WS_ANSWER = b'\x1b#\xdb\\\xa2\x86A\xa8(@;\x07\xeb"|&'


def hixie76_request(host, path, origin="http://127.0.0.1:9999", key1=FLASH_KEY1,
                    key2=FLASH_KEY2, key3=FLASH_KEY3, cookie=True):
    """The opening handshake as the Flash bridge (web-socket-js, hixie-76) writes it,
    header for header as in transcripts-0.6/flashsocket.txt (websocket.txt: no Cookie)."""
    return ("GET %s HTTP/1.1\r\n"
            "Upgrade: WebSocket\r\n"
            "Connection: Upgrade\r\n"
            "Host: %s\r\n"
            "Origin: %s\r\n"
            "%s"
            "Sec-WebSocket-Key1: %s\r\n"
            "Sec-WebSocket-Key2: %s\r\n"
            "\r\n" % (path, host, origin, "Cookie: \r\n" if cookie else "", key1, key2)
            ).encode("latin-1") + key3


class Hixie76Client:
    """The Flash bridge's WebSocket (hixie-76): ``\\x00`` + UTF-8 + ``\\xff`` frames."""

    framing = "hixie76"

    def __init__(self, base, path, host=None, origin="http://127.0.0.1:9999", timeout=10,
                 **request_options):
        parts = urlsplit(base)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.reader = _SocketReader(self.sock)
        self.sock.sendall(hixie76_request(host or host_of(base), path, origin, **request_options))
        head = self.reader.read_until(b"\r\n\r\n", timeout)
        self.status_line, self.header_list = _parse_head(head)
        self.headers = {k.lower(): v for k, v in self.header_list}
        self.status = int(self.status_line.split()[1])
        self.answer = self.reader.read(16, timeout) if self.status == 101 else None
        self.close_code = None
        self.close_sent = False

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, text):
        self.sock.sendall(b"\x00" + text.encode("utf-8") + b"\xff")

    def send_close(self, code=None):
        self.close_sent = True
        try:
            self.sock.sendall(b"\xff\x00")
        except OSError:
            pass  # the server may already have dropped the connection

    def recv(self, timeout=10):
        """The next text message; None on the server's ``\\xff\\x00`` or a dropped
        connection."""
        try:
            kind = self.reader.read(1, timeout)
            if kind == b"\xff":
                assert self.reader.read(1, timeout) == b"\x00"
                self.close_code = "hixie-76 close"
                if not self.close_sent:  # the bridge answers the closing handshake
                    self.send_close()
                return None
            assert kind == b"\x00", "unexpected frame type %r" % kind
            return self.reader.read_until(b"\xff", timeout)[:-1].decode("utf-8")
        except EOFError:
            return None

    def closed_by_server(self, timeout=5):
        return self.reader.at_eof(timeout)

    def close(self):
        self.sock.close()


class Peer:
    """A 0.6 client on a socket: framing aside, websocket.js and flashsocket.js are one."""

    def __init__(self, base, transport="websocket", framing="rfc6455",
                 origin="http://127.0.0.1:9999"):
        path = "/socket.io/" + transport
        if framing == "rfc6455":
            self.ws = RFC6455Client(base, path, headers={"Origin": origin} if origin else None)
        else:
            self.ws = Hixie76Client(base, path, origin=origin)
        assert self.ws.status == 101, self.ws.status_line
        self.first = self.ws.recv()
        self.sid = decode(self.first)[0]

    def send(self, payload):
        self.ws.send(payload)

    def messages(self, timeout=5):
        """The frames of the next WebSocket message; None once the server closed."""
        data = self.ws.recv(timeout)
        return None if data is None else decode(data)

    def user_messages(self, count=1, timeout=5):
        """The next ``count`` messages that are not heartbeats; heartbeats seen on the way
        are echoed at once, as transport.js does."""
        out = []
        while len(out) < count:
            messages = self.messages(timeout)
            assert messages is not None, "closed (%s) after %r" % (self.ws.close_code, out)
            for message in messages:
                if heartbeat_number(message) is None:
                    out.append(message)
                else:
                    self.send(encode(message))
        return out

    def until_closed(self, timeout=5):
        """Every frame received until the server's close frame."""
        out = []
        while True:
            messages = self.messages(timeout)
            if messages is None:
                return out
            out += messages

    def close(self):
        self.ws.close()


# -- evaluating what a page would evaluate ---------------------------------------------------

_EVAL_SCRIPT = r"""
var vm = require('vm');
var args = JSON.parse(Buffer.from(process.argv[1], 'base64').toString('utf8'));
globalThis.io = {util: {isArray: Array.isArray,
                        merge: function (t, s) { for (var k in s) t[k] = s[k]; return t; }}};
require(args.lib + '/transport.js');
var transport = new io.Transport({}, {});
var calls = [];
function receive(data) { calls.push({data: data, messages: transport.decode(data)}); }
var sandbox = {
  io: {JSONP: []},
  parent: {s: {_: function (data, doc) { receive(data); }}},
  document: {}
};
for (var i = 0; i < 10; i++) sandbox.io.JSONP.push({_: receive});
args.scripts.forEach(function (code) { vm.runInNewContext(code, sandbox); });
// ASCII only, so that U+2028/U+2029 in a message cannot split the output line
console.log(JSON.stringify(calls).replace(/[\u007f-\uffff]/g, function (c) {
  return '\\u' + ('0000' + c.charCodeAt(0).toString(16)).slice(-4);
}));
"""


def run_in_page(scripts):
    """Evaluate each script (a JSONP response, the body of an htmlfile <script>) in Node
    with ``io.JSONP[i]._`` and ``parent.s._`` wired to the 0.6 client's own
    ``Transport.prototype.decode``. Returns one ``{"data", "messages"}`` per callback."""
    args = json.dumps({"lib": CLIENT_LIB, "scripts": list(scripts)})
    encoded = base64.b64encode(args.encode("utf-8")).decode("ascii")
    return run_json(["node", "-e", _EVAL_SCRIPT, encoded], timeout=30)
