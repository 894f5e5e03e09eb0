"""The lean HTTP/1.1 path for Engine.IO requests (geventio/lean.py, protocol/http1.py).

Plain, fully buffered Engine.IO request heads are served without pywsgi's parser; anything
else falls back to pywsgi. Either way a client sees correct HTTP/1.1.
"""
import socket
import time

import pytest

import geventio
from geventio.protocol.http1 import parse_head
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve

pytestmark = pytest.mark.timeout(20)

POLL = "/socket.io/?EIO=4&transport=polling"


# -- the head parser (no I/O) ------------------------------------------------------------------

def head(lines, body=b""):
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def test_a_plain_request_head_is_parsed_into_environ_keys():
    parsed = parse_head(head(["POST /socket.io/?EIO=4&sid=x HTTP/1.1", "Host: a:1",
                              "Content-Type: text/plain", "Content-Length: 3",
                              "X-Custom-Thing:  v  "], b"abc"))
    assert parsed.method == "POST"
    assert parsed.path == "/socket.io/"
    assert parsed.query == "EIO=4&sid=x"
    assert parsed.environ == {"HTTP_HOST": "a:1", "CONTENT_TYPE": "text/plain",
                              "CONTENT_LENGTH": "3", "HTTP_X_CUSTOM_THING": "v"}
    assert parsed.keep_alive and not parsed.upgrade


def test_the_head_size_counts_up_to_the_blank_line():
    raw = head(["GET / HTTP/1.1", "Host: a"], b"next")
    assert raw[parse_head(raw).size:] == b"next"


def test_an_incomplete_head_is_left_to_the_full_server():
    assert parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n") is None


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",            # bare LF
    b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",            # bare CR
    b"GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n",         # obsolete line folding
    b"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",              # field name not a token
    b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",                 # HEAD: no body in the answer
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    b"GET /\r\n\r\n",                                      # HTTP/0.9
    b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nExpect: something-else\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
])
def test_unusual_heads_are_left_to_the_full_server(raw):
    assert parse_head(raw) is None


def test_field_names_with_underscores_are_dropped_as_wsgi_servers_do():
    parsed = parse_head(head(["GET / HTTP/1.1", "X_Forwarded_For: evil", "Host: a"]))
    assert parsed.environ == {"HTTP_HOST": "a"}


def test_repeated_fields_are_joined_and_cookies_joined_with_semicolons():
    parsed = parse_head(head(["GET / HTTP/1.1", "Accept: a", "Accept: b",
                              "Cookie: x=1", "Cookie: y=2"]))
    assert parsed.environ["HTTP_ACCEPT"] == "a,b"
    assert parsed.environ["HTTP_COOKIE"] == "x=1; y=2"


@pytest.mark.parametrize("version,connection,keep", [
    ("HTTP/1.1", None, True), ("HTTP/1.1", "close", False),
    ("HTTP/1.1", "Keep-Alive, Close", False),
    ("HTTP/1.0", None, False), ("HTTP/1.0", "keep-alive", False),
])
def test_keep_alive_follows_the_version_and_the_connection_field(version, connection, keep):
    lines = ["GET / " + version, "Host: a"] + (["Connection: " + connection] if connection else [])
    assert parse_head(head(lines)).keep_alive is keep


def test_a_websocket_upgrade_is_recognised():
    parsed = parse_head(head(["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
                              "Upgrade: websocket", "Connection: Upgrade"]))
    assert parsed.upgrade


# -- the server ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base():
    def fallback(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
        return [b"fallback"]

    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router], fallback=fallback)) as base:
        yield base


class Raw:
    """A raw keep-alive connection reading whole responses (Content-Length framed)."""

    def __init__(self, base):
        host, port = base.split("//")[1].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", 0))
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return lines[0], headers, body

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except OSError:
            return True

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed with %r buffered" % self.buf[:200])
        self.buf += data

    def close(self):
        self.sock.close()


@pytest.fixture
def raw(base):
    conn = Raw(base)
    yield conn
    conn.close()


def get(path=POLL, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, extra)).encode("latin-1")


def sid_of(body):
    import json
    return json.loads(body[1:])["sid"]


def test_a_handshake_answer_has_date_length_and_no_close(raw):
    raw.send(get())
    status, headers, body = raw.response()
    assert status == "HTTP/1.1 200 OK"
    assert body.startswith(b'0{"sid":')
    assert headers["content-length"] == str(len(body))
    assert "date" in headers and headers["date"].endswith("GMT")
    assert "connection" not in headers


def post(raw, sid, body):
    raw.send(b"POST %s&sid=%s HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
             b"Content-Length: %d\r\n\r\n%s" % (POLL.encode(), sid.encode(), len(body), body))
    return raw.response()


def test_requests_on_one_keep_alive_connection_are_answered_in_turn(raw):
    raw.send(get())
    sid = sid_of(raw.response()[2])
    assert post(raw, sid, b"40")[2] == b"ok"
    raw.send(get("%s&sid=%s" % (POLL, sid)))
    assert raw.response()[2].startswith(b"40{")
    for i in range(3):
        assert post(raw, sid, b'42["message","m%d"]' % i)[2] == b"ok"
        raw.send(get("%s&sid=%s" % (POLL, sid)))
        assert raw.response()[2] == b'42["message","m%d"]' % i


def test_pipelined_requests_in_one_segment_are_all_answered(raw):
    raw.send(get() + get())
    first, second = raw.response(), raw.response()
    assert first[2].startswith(b"0{") and second[2].startswith(b"0{")
    assert sid_of(first[2]) != sid_of(second[2])


def test_a_head_split_across_segments_is_still_served(raw):
    data = get()
    raw.send(data[:20])
    time.sleep(0.05)
    raw.send(data[20:])
    assert raw.response()[2].startswith(b"0{")


def test_connection_close_is_honoured_and_echoed(raw):
    raw.send(get(extra="Connection: close\r\n"))
    _, headers, body = raw.response()
    assert body.startswith(b"0{")
    assert headers["connection"] == "close"
    assert raw.closed()


def test_an_http_1_0_request_is_answered_then_closed(raw):
    raw.send(("GET %s HTTP/1.0\r\nHost: t\r\n\r\n" % POLL).encode())
    status, headers, body = raw.response()
    assert status == "HTTP/1.1 200 OK" and body.startswith(b"0{")
    assert headers["connection"] == "close"
    assert raw.closed()


def test_a_post_expecting_100_continue_gets_it_before_sending_the_body(raw):
    raw.send(get())
    sid = sid_of(raw.response()[2])
    raw.send(b"POST %s&sid=%s HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n" % (POLL.encode(), sid.encode()))
    status, _, _ = raw.response()
    assert status == "HTTP/1.1 100 Continue"
    raw.send(b"40")
    assert raw.response()[2] == b"ok"


def test_a_bad_request_gets_node_style_json_and_the_connection_stays_usable(raw):
    raw.send(get("/socket.io/?EIO=4&transport=polling&sid=nosuchsession"))
    status, headers, body = raw.response()
    assert status.startswith("HTTP/1.1 400")
    assert b'"code":1' in body
    raw.send(get())
    assert raw.response()[2].startswith(b"0{")


def test_other_paths_on_the_same_connection_go_to_the_wrapped_app(raw):
    raw.send(get("/page"))
    assert raw.response()[2] == b"fallback"
    raw.send(get())
    assert raw.response()[2].startswith(b"0{")
    raw.send(get("/page"))
    assert raw.response()[2] == b"fallback"


def test_a_percent_encoded_path_still_reaches_the_router(raw):
    raw.send(get("/socket%2Eio/?EIO=4&transport=polling"))
    assert raw.response()[2].startswith(b"0{")


def test_an_error_in_a_router_answers_500_and_closes(base, monkeypatch):
    from geventio import router as router_module

    def broken(self, ex):
        raise RuntimeError("boom")

    monkeypatch.setattr(router_module.Router, "_dispatch_modern", broken)
    conn = Raw(base)
    try:
        conn.send(get())
        status, headers, _ = conn.response()
        assert status.startswith("HTTP/1.1 500")
        assert headers["connection"] == "close"
        assert conn.closed()
    finally:
        conn.close()


@pytest.fixture
def lean_calls(monkeypatch):
    from geventio import lean
    calls = []
    original = lean.serve

    def counting(handler, head, app, buffered):
        calls.append(head.path)
        return original(handler, head, app, buffered)

    monkeypatch.setattr(lean, "serve", counting)
    return calls


def test_a_buffered_engine_io_request_takes_the_lean_path(raw, lean_calls):
    raw.send(get())
    raw.response()
    assert lean_calls == ["/socket.io/"]


def test_split_heads_and_other_paths_take_pywsgi(raw, lean_calls):
    data = get()
    raw.send(data[:20])
    time.sleep(0.05)
    raw.send(data[20:])
    raw.response()
    raw.send(get("/page"))
    raw.response()
    assert lean_calls == []


def test_an_oversized_post_is_refused_with_413_and_the_connection_closed(raw):
    raw.send(get())
    sid = sid_of(raw.response()[2])
    raw.send(b"POST %s&sid=%s HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
             b"Content-Length: 100000000000\r\n\r\n4" % (POLL.encode(), sid.encode()))
    status, headers, _ = raw.response()
    assert status.startswith("HTTP/1.1 413")
    assert headers["connection"] == "close"
    assert raw.closed()
