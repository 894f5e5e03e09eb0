"""Real clients over polling receive a large event, compressed when they ask for it (issue 12).

* socket.io-client 4.x in headless Chromium: the browser sends ``Accept-Encoding: gzip,
  deflate, ...``, gets gzip, and its Resource Timing shows fewer bytes on the wire than it
  decoded.
* the python-socketio client (requests sends ``Accept-Encoding: gzip, deflate``): gzip.
* socket.io-client 4.x in Node: its XMLHttpRequest (xmlhttprequest-ssl) sends no
  Accept-Encoding (and forbids setting one), so it gets the answer uncompressed, intact.

Every polling answer's encoding is recorded on the server by wrapping ``Exchange.encode``.
"""
import json
import sys

import pytest

import geventio
from geventio.transports import http
from helpers.browser import requires_browser, run_pages
from helpers.node import node_available, run_json
from helpers.server import make_application, serve
from helpers.static import static_app

pytestmark = pytest.mark.timeout(90)

BIG = "".join("line %d of a large event, compressible text\n" % i for i in range(2000))

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="/socket.io.v4.js"></script></head><body><script>
var result = window.__result = {};
var s = io({transports: ['polling'], reconnection: false});
s.on('big', function (text) {
  result.length = text.length;
  result.tail = text.slice(-60);
  setTimeout(function () {
    result.timing = performance.getEntriesByType('resource')
      .filter(function (e) { return e.name.indexOf('sid=') >= 0; })
      .map(function (e) { return [e.encodedBodySize, e.decodedBodySize]; });
    s.close();
    window.__done = true;
  }, 200);
});
s.on('connect', function () { s.emit('want'); });
s.on('connect_error', function (e) { result.error = e.message; window.__done = true; });
</script></body></html>"""

PYTHON_CLIENT = r'''
import json, sys, threading
import socketio
got = threading.Event()
result = {}
sio = socketio.Client()
@sio.on("big")
def big(text):
    result["length"] = len(text)
    result["tail"] = text[-60:]
    got.set()
sio.connect(sys.argv[1], transports=["polling"])
sio.emit("want")
got.wait(20)
sio.disconnect()
print(json.dumps(result))
'''

NODE_CLIENT = r'''
const { io } = require("socket.io-client");
const s = io(process.argv[1], {transports: ["polling"], reconnection: false});
s.on("connect", () => s.emit("want"));
s.on("big", (text) => {
  console.log(JSON.stringify({length: text.length, tail: text.slice(-60)}));
  s.close();
});
s.on("connect_error", (e) => { console.log(JSON.stringify({error: e.message})); s.close(); });
'''


class Big(geventio.SocketConnection):
    @geventio.event
    def want(self):
        self.emit("big", BIG)


@pytest.fixture
def server(monkeypatch):
    """(base URL, [(user agent, Accept-Encoding, Content-Encoding, raw size, sent size)])."""
    seen = []
    original = http.Exchange.encode

    def encode(self, body):
        sent, headers = original(self, body)
        seen.append((self.environ.get("HTTP_USER_AGENT", ""),
                     self.environ.get("HTTP_ACCEPT_ENCODING"),
                     dict(headers).get("Content-Encoding"), len(body), len(sent)))
        return sent, headers

    monkeypatch.setattr(http.Exchange, "encode", encode)
    router = geventio.get_router(Big)
    page = static_app({"/big.html": ("text/html; charset=utf-8", PAGE)})
    with serve(make_application([router], fallback=page)) as base:
        yield base, seen


def big_answers(seen):
    return [s for s in seen if s[3] > len(BIG)]


def assert_intact(result):
    assert result.get("length") == len(BIG), result
    assert result["tail"] == BIG[-60:]


@requires_browser
def test_chromium_receives_the_large_event_gzip_compressed(server):
    base, seen = server
    run = run_pages(base + "/big.html", timeout=30)
    result = run["pages"][0]["result"]
    assert_intact(result)
    [answer] = big_answers(seen)
    print("answer", answer)
    assert "gzip" in answer[1] and answer[2] == "gzip"
    assert answer[4] < answer[3] / 5
    encoded, decoded = max(result["timing"], key=lambda t: t[1])
    print("timing", encoded, decoded)
    assert decoded > len(BIG) and encoded < decoded / 5, result["timing"]


def test_the_python_client_receives_the_large_event_compressed(server):
    pytest.importorskip("socketio", reason="needs python-socketio[client] (the test extra)")
    import gevent.subprocess
    base, seen = server
    out = gevent.subprocess.run([sys.executable, "-c", PYTHON_CLIENT, base],
                                capture_output=True, text=True, timeout=40)
    assert out.returncode == 0, out.stderr
    assert_intact(json.loads(out.stdout.strip().splitlines()[-1]))
    [answer] = big_answers(seen)
    print("answer", answer)
    assert answer[0].startswith("python-requests/")
    assert answer[2] in ("gzip", "deflate") and answer[4] < answer[3] / 5


@pytest.mark.skipif(not node_available(), reason="needs node and node_modules")
def test_the_node_client_sends_no_accept_encoding_and_gets_the_event_plain(server):
    base, seen = server
    assert_intact(run_json(["node", "-e", NODE_CLIENT, base], 40))
    [answer] = big_answers(seen)
    print("answer", answer)
    assert answer[1] is None and answer[2] is None and answer[4] == answer[3]
