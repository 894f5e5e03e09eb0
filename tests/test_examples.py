"""The examples (examples/chatroom, ping, transports) work as shipped.

Browser tests drive each example's own index.html in headless Chromium: a harness page
loads it in an iframe (same origin), types into it, clicks its buttons and reads what it
shows. The example applications run in this process on an ephemeral port, loaded from
their files as ``geventio-serve`` loads them.
"""
import importlib.util
import json
import os
import sys
import time
from datetime import datetime
from urllib.parse import parse_qs

import gevent
import pytest

from helpers import REPO_ROOT
from helpers.browser import run_pages
from helpers.process import free_port, geventio_serve, running
from helpers.server import make_application, serve
from helpers.wire import post, request

EXAMPLES = ["chatroom", "ping", "transports"]


def load_example(name):
    """A fresh copy of examples/<name>/<name>.py (its own router, no shared state)."""
    path = os.path.join(REPO_ROOT, "examples", name, name + ".py")
    spec = importlib.util.spec_from_file_location("example_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve_example(module, script=None, endpoints=None):
    """Serve the example's own routes and static app on 127.0.0.1:<free port>, plus (for
    browser tests) the harness page at /__harness__ running ``script`` and the test's
    ``endpoints`` ({path: fn(query dict) -> JSON-able})."""
    example = module.application
    harness = HARNESS_PAGE.replace("/*SCRIPT*/", script or "").encode("utf-8")
    endpoints = endpoints or {}

    def fallback(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/__harness__":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                      ("Content-Length", str(len(harness)))])
            return [harness]
        if path in endpoints:
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            body = json.dumps(endpoints[path](query)).encode("utf-8")
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return example.fallback(environ, start_response)

    return serve(make_application(example.routes, fallback=fallback))


def first_frame(body):
    """The text of the first 0.6 frame in a payload, and the rest."""
    text = body.decode("utf-8")
    assert text.startswith("~m~"), text
    length, rest = text[3:].split("~m~", 1)
    return rest[:int(length)], rest[int(length):]


def handshake(base):
    status, _, body = request(base, "GET", "/socket.io/xhr-polling//%d" % (time.time() * 1000))
    assert status == 200
    sid, rest = first_frame(body)
    return sid, rest


def poll(base, sid):
    status, _, body = request(base, "GET", "/socket.io/xhr-polling/%s/%d"
                              % (sid, time.time() * 1000), timeout=30)
    assert status == 200
    return body.decode("utf-8")


# -- the harness page ------------------------------------------------------------------------

HARNESS_PAGE = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body><script>
var PAGE = Number(/[?&]page=(\d+)/.exec(location.search)[1]);
var steps = [];
function step(what) { steps.push(what); }
function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
async function until(what, fn, ms) {
  var end = Date.now() + (ms || 20000);
  for (;;) {
    var value;
    try { value = fn(); } catch (e) { value = undefined; }
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(25);
  }
}
// Open the example page in an iframe; resolves to its document once its UI is there.
async function open(src) {
  var frame = document.createElement('iframe');
  frame.style.width = '900px'; frame.style.height = '700px';
  frame.src = src;
  document.body.appendChild(frame);
  await until('the example page', function () {
    var doc = frame.contentDocument;
    return doc && frame.contentWindow.io && doc.getElementById('status');
  });
  step('opened ' + src);
  return {frame: frame, doc: frame.contentDocument};
}
function texts(doc, selector) {
  return Array.prototype.map.call(doc.querySelectorAll(selector),
                                  function (el) { return el.textContent; });
}
function status(doc) { return doc.getElementById('status').textContent; }
function type(doc, value) {
  doc.getElementById('text').value = value;
  doc.querySelector('#chatform button[type=submit]').click();
  step('sent ' + value);
}
async function endpoint(path) {
  var response = await fetch(path);
  return response.json();
}
async function main() { /*SCRIPT*/ }
main().then(function (result) { window.__result = result; },
            function (error) { window.__result = {error: String(error), steps: steps}; })
      .then(function () { window.__done = true; });
</script></body></html>
"""


def check(page):
    """The page's result, failing with its steps and console when it reported an error."""
    assert page["done"], page
    result = page["result"]
    assert isinstance(result, dict) and "error" not in result, page
    return result


# -- every example, over plain HTTP ----------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
def test_example_serves_its_index_page_and_the_06_client_from_node_modules(name):
    with serve_example(load_example(name)) as base:
        status, headers, page = request(base, "GET", "/")
        assert status == 200
        assert headers["content-type"].startswith("text/html")
        assert b'<script src="/socket.io.js"></script>' in page
        status, headers, client = request(base, "GET", "/socket.io.js")
    assert status == 200
    assert "javascript" in headers["content-type"]
    assert b"io.Socket" in client


def test_example_says_to_run_npm_ci_when_the_client_is_missing(monkeypatch):
    module = load_example("chatroom")
    monkeypatch.setitem(module._static.CLIENT_FILES, "/socket.io.js",
                        os.path.join(REPO_ROOT, "no-such-dir", "socket.io.js"))
    with serve_example(module) as base:
        status, _, body = request(base, "GET", "/socket.io.js")
    assert status == 500
    assert b"npm ci" in body


def test_example_answers_404_for_unknown_paths_and_405_for_posts_to_pages():
    with serve_example(load_example("chatroom")) as base:
        assert request(base, "GET", "/no/such/page")[0] == 404
        assert request(base, "POST", "/", body=b"x=1")[0] == 405


def test_chatroom_welcomes_and_broadcasts_to_every_participant_over_the_wire():
    module = load_example("chatroom")
    with serve_example(module) as base:
        alice, alice_rest = handshake(base)
        bob, bob_rest = handshake(base)
        assert (alice_rest or poll(base, alice)) == "~m~8~m~Welcome!"
        assert (bob_rest or poll(base, bob)) == "~m~8~m~Welcome!"
        assert post(base, "/socket.io/xhr-polling/%s/send" % alice, "~m~2~m~hi")[0] == 200
        assert poll(base, alice) == "~m~2~m~hi"
        assert poll(base, bob) == "~m~2~m~hi"


def test_chatroom_tells_the_others_when_a_participant_leaves():
    """Here the server closes one participant; the browser test below closes a page."""
    module = load_example("chatroom")
    with serve_example(module) as base:
        alice, _ = handshake(base)
        bob, bob_rest = handshake(base)
        if not bob_rest:
            poll(base, bob)  # the welcome
        [alice_conn] = [c for c in module.router.connections() if c.session_id == alice]
        alice_conn.close()
        assert poll(base, bob) == "~m~16~m~A user has left."


def test_ping_echoes_the_message_with_server_time_and_client_ip_over_the_wire():
    with serve_example(load_example("ping")) as base:
        sid, _ = handshake(base)
        before = time.time() * 1000
        post(base, "/socket.io/xhr-polling/%s/send" % sid, '~m~17~m~~j~{"client":123}')
        frame, _ = first_frame(poll(base, sid).encode("utf-8"))
    assert frame.startswith("~j~")
    reply = json.loads(frame[3:])
    assert reply["client"] == 123
    assert reply["ip"] == "127.0.0.1"
    assert before - 1000 <= reply["server"] <= time.time() * 1000 + 1000


def test_transports_example_echoes_over_the_wire():
    with serve_example(load_example("transports")) as base:
        sid, _ = handshake(base)
        post(base, "/socket.io/xhr-polling/%s/send" % sid, "~m~4~m~echo")
        assert poll(base, sid) == "~m~4~m~echo"


# -- each example runs as a program ------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_as_a_script_on_the_given_port(name):
    port = free_port()
    cmd = [sys.executable, os.path.join("examples", name, name + ".py"), "--port", str(port)]
    with running(cmd, port) as (child, base, body):
        assert body.startswith(b"~m~20~m~")
        assert request(base, "GET", "/")[0] == 200
        child.signal()
        assert child.wait(15) == 0
        stdout, stderr = child.output()
    assert "http://127.0.0.1:%d/" % port in stdout + stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_under_geventio_serve(name):
    port = free_port()
    cmd = geventio_serve() + ["examples/%s/%s.py:application" % (name, name),
                              "--port", str(port), "--no-flash-policy"]
    with running(cmd, port) as (child, base, body):
        assert body.startswith(b"~m~20~m~")
        status, _, page = request(base, "GET", "/")
        assert status == 200 and b"/socket.io.js" in page


# -- in a real browser ---------------------------------------------------------------------

CHAT_SCRIPT = r"""
  var transport = ['websocket', 'xhr-polling'][PAGE];
  var chat = await open('/?transports=' + transport);
  var doc = chat.doc;
  await until('the welcome', function () { return texts(doc, '#log li').length; });
  await until('connected', function () { return /^connected/.test(status(doc)); });
  var connected = status(doc);
  await endpoint('/__participants__?n=2');   // both pages are in the room
  type(doc, 'hello from page ' + PAGE);
  await until('both messages', function () {
    var lines = texts(doc, '#log li');
    return lines.indexOf('hello from page 0') >= 0 && lines.indexOf('hello from page 1') >= 0;
  });
  var seen = texts(doc, '#log li');
  if (PAGE === 0) {
    chat.frame.remove();                     // page 0 leaves the chat
  } else {
    await until('the notice that page 0 left', function () {
      return texts(doc, '#log li').indexOf('A user has left.') >= 0;
    });
    seen = texts(doc, '#log li');
  }
  return {connected: connected, lines: seen};
"""


def wait_for_participants(router, room):
    def endpoint(query):
        wanted = int(query["n"])
        with gevent.Timeout(15, False):
            while len(router.connections(room)) < wanted:
                gevent.sleep(0.02)
        return len(router.connections(room))
    return endpoint


@pytest.mark.browser
def test_chatroom_in_two_browsers_over_websocket_and_xhr_polling():
    module = load_example("chatroom")
    participants = wait_for_participants(module.router, module.ROOM)
    with serve_example(module, CHAT_SCRIPT, {"/__participants__": participants}) as base:
        report = run_pages(base + "/__harness__", pages=2, timeout=40)
    websocket_page, polling_page = [check(page) for page in report["pages"]]
    assert websocket_page["connected"] == "connected (websocket)"
    assert polling_page["connected"] == "connected (xhr-polling)"
    for page in (websocket_page, polling_page):
        assert page["lines"][0] == "Welcome!"
        assert sorted(page["lines"][1:3]) == ["hello from page 0", "hello from page 1"]
    assert polling_page["lines"][3:] == ["A user has left."]


PING_SCRIPT = r"""
  var page = await open('/');
  var doc = page.doc;
  await until('connected', function () { return /^connected/.test(status(doc)); });
  doc.getElementById('ping').click();
  var row = await until('a reply', function () { return doc.querySelector('#results tr'); });
  var cell = function (name) { return row.querySelector('.' + name).textContent; };
  return {connected: status(doc), rtt: cell('rtt'), server: cell('server'), ip: cell('ip'),
          summary: doc.getElementById('summary').textContent};
"""


@pytest.mark.browser
def test_ping_page_shows_round_trip_server_time_and_ip():
    with serve_example(load_example("ping"), PING_SCRIPT) as base:
        before = time.time()
        report = run_pages(base + "/__harness__", timeout=30)
        after = time.time()
    result = check(report["pages"][0])
    assert result["connected"] == "connected (websocket)"
    assert result["ip"] == "127.0.0.1"
    assert 0 <= int(result["rtt"]) < 5000
    server = datetime.fromisoformat(result["server"].replace("Z", "+00:00")).timestamp()
    assert before - 2 <= server <= after + 2
    assert result["summary"].startswith("1 replies")


TRANSPORT_SCRIPT = r"""
  var wanted = new URLSearchParams(location.search).get('transport');
  var page = await open('/');
  var doc = page.doc;
  var boxes = doc.querySelectorAll('#protocols input');
  for (var i = 0; i < boxes.length; i++) boxes[i].checked = (boxes[i].id === wanted);
  doc.getElementById('connect').click();
  await until('connected', function () { return /^connected/.test(status(doc)); });
  var connected = status(doc);
  type(doc, 'echo over ' + wanted);
  await until('the echo', function () {
    return texts(doc, '#log li').indexOf('Received: echo over ' + wanted) >= 0;
  });
  doc.getElementById('connect').click();    // Disconnect
  await until('disconnected', function () { return status(doc) === 'disconnected'; });
  return {connected: connected, lines: texts(doc, '#log li'), after: status(doc)};
"""


@pytest.mark.browser
@pytest.mark.parametrize("transport", ["websocket", "xhr-polling", "jsonp-polling"])
def test_transports_page_echoes_over_the_ticked_transport(transport):
    with serve_example(load_example("transports"), TRANSPORT_SCRIPT) as base:
        report = run_pages(base + "/__harness__?transport=" + transport, timeout=30)
    result = check(report["pages"][0])
    assert result["connected"] == "connected (%s)" % transport
    assert result["lines"][:4] == [
        "Connecting over %s…" % transport,
        "Connected over %s." % transport,
        "Sending: echo over %s" % transport,
        "Received: echo over %s" % transport,
    ]
    assert result["after"] == "disconnected"
