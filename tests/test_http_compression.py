"""Polling answers compressed as the client's Accept-Encoding allows (issue 12).

Engine.IO v3/v4 polling (JSONP included) and the 0.6 xhr-polling and jsonp-polling answers
of at least ``compression_threshold`` bytes go out gzip- or deflate-encoded, with
``Content-Encoding``, ``Vary: Accept-Encoding`` and the compressed Content-Length; smaller
ones, and clients that accept neither, get the body as it was. Both request paths: the lean
path serves plain buffered ``EIO=`` heads, pywsgi a head that arrives in pieces.
"""
import gzip
import json
import socket
import time
import zlib
from urllib.parse import quote

import pytest

import geventio
from geventio.transports.http import accepted_encoding
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve

pytestmark = pytest.mark.timeout(30)

BIG = "compress me " * 400        # 4800 bytes, well above the 1024-byte threshold
SMALL = "tiny"


@pytest.fixture(scope="module")
def base():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router])) as base:
        yield base


@pytest.fixture(scope="module")
def base_off():
    router = geventio.get_router(echo_handler(Recorder()),
                                 {"http_compression": False})
    with serve(make_application([router])) as base:
        yield base


@pytest.fixture
def lean_calls(monkeypatch):
    from geventio import lean
    calls = []
    original = lean.serve

    def counting(handler, head, app, buffered):
        calls.append((head.method, head.path, head.query))
        return original(handler, head, app, buffered)

    monkeypatch.setattr(lean, "serve", counting)
    return calls


def exchange(base, method, path, body=b"", accept=None, split=False,
             content_type="text/plain;charset=UTF-8"):
    """One request on a fresh connection; (status line, headers, raw body). ``split`` sends
    the head in two pieces, so pywsgi (not the lean path) serves it."""
    host, port = base.split("//")[1].split(":")
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: t"]
    if accept is not None:
        lines.append("Accept-Encoding: " + accept)
    if body:
        lines += ["Content-Type: " + content_type, "Content-Length: %d" % len(body)]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        if split:
            sock.sendall(data[:20])
            time.sleep(0.05)
            sock.sendall(data[20:])
        else:
            sock.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "closed mid-body"
            rest += chunk
        assert len(rest) == length
        return lines[0], headers, rest


def decoded(headers, body):
    coding = headers.get("content-encoding")
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "deflate":
        return zlib.decompress(body)
    assert coding is None, coding
    return body


def eio_answer(base, message, accept, split, query="EIO=4&transport=polling"):
    """Open an Engine.IO session, have the echo send ``message`` back, and return the raw
    answer of the poll that carries it: (headers, raw body, decoded body)."""
    path = "/socket.io/?" + query
    _, headers, body = exchange(base, "GET", path)
    text = body.decode("utf-8")
    if text.startswith("___eio["):
        text = json.loads(text[text.index("(") + 1:text.rindex(")")])
    sid = json.loads(text[text.index("{"):text.rindex("}") + 1])["sid"]
    path += "&sid=" + sid
    v3 = "EIO=3" in query
    jsonp = "&j=" in query
    packet = '42["message",%s]' % json.dumps(message)
    payload = "%d:%s" % (len(packet), packet) if v3 else packet
    connect = "2:40" if v3 else "40"
    for post in (connect, payload):
        if jsonp:
            status, _, _ = exchange(base, "POST", path, ("d=" + quote(post)).encode("ascii"),
                                    content_type="application/x-www-form-urlencoded")
        else:
            status, _, _ = exchange(base, "POST", path, post.encode("utf-8"))
        assert status.startswith("HTTP/1.1 200"), status
    for _ in range(5):
        status, headers, raw = exchange(base, "GET", path, accept=accept, split=split)
        assert status == "HTTP/1.1 200 OK"
        plain = decoded(headers, raw)
        if message.encode() in plain.replace(b"\\", b""):
            return headers, raw, plain
    raise AssertionError("the message never came back")


# -- Accept-Encoding (no I/O) -----------------------------------------------------------------

@pytest.mark.parametrize("accept,coding", [
    ("gzip, deflate, br", "gzip"), ("deflate", "deflate"), ("br", None), ("", None),
    ("identity", None), ("gzip;q=0, deflate", "deflate"), ("gzip;q=0,deflate;q=0", None),
    ("GZIP", "gzip"), ("*", "gzip"), ("*;q=0", None), ("gzip;q=0.5", "gzip"),
    ("gzip;q=nonsense, deflate;q=0.1", "deflate"), ("deflate, *;q=0", "deflate"),
])
def test_accept_encoding_picks_gzip_then_deflate(accept, coding):
    assert accepted_encoding(accept) == coding


# -- Engine.IO over both request paths --------------------------------------------------------

@pytest.mark.parametrize("split", [False, True], ids=["lean", "pywsgi"])
@pytest.mark.parametrize("accept,coding", [("gzip, deflate", "gzip"), ("deflate", "deflate"),
                                           ("gzip;q=0, deflate;q=0", None), (None, None)])
def test_a_large_poll_answer_is_compressed_as_accepted(base, lean_calls, split, accept,
                                                       coding):
    headers, raw, plain = eio_answer(base, BIG, accept, split)
    assert headers.get("content-encoding") == coding
    assert headers["vary"] == "Accept-Encoding"
    assert int(headers["content-length"]) == len(raw)
    if coding:
        assert len(raw) < len(plain) / 10
    assert ('42["message","%s"]' % BIG).encode() in plain
    polls = [c for c in lean_calls if c[0] == "GET" and "sid=" in c[2]]
    assert (polls == []) if split else polls   # the poll took pywsgi / the lean path


def test_the_split_head_really_takes_pywsgi(base, lean_calls):
    exchange(base, "GET", "/socket.io/?EIO=4&transport=polling", accept="gzip", split=True)
    assert lean_calls == []
    exchange(base, "GET", "/socket.io/?EIO=4&transport=polling", accept="gzip")
    assert [c[1] for c in lean_calls] == ["/socket.io/"]


@pytest.mark.parametrize("split", [False, True], ids=["lean", "pywsgi"])
def test_a_small_poll_answer_is_left_alone(base, split):
    headers, raw, plain = eio_answer(base, SMALL, "gzip, deflate", split)
    assert "content-encoding" not in headers and "vary" not in headers
    assert raw == plain


def test_the_threshold_is_inclusive_and_configurable():
    router = geventio.get_router(echo_handler(Recorder()),
                                 {"compression_threshold": 100})
    with serve(make_application([router])) as base:
        headers, _, plain = eio_answer(base, "y" * 150, "gzip", False)
        assert headers["content-encoding"] == "gzip"
        headers, _, _ = eio_answer(base, "y" * 40, "gzip", False)
        assert "content-encoding" not in headers


def test_compression_can_be_turned_off(base_off):
    headers, raw, plain = eio_answer(base_off, BIG, "gzip, deflate", False)
    assert "content-encoding" not in headers and "vary" not in headers
    assert raw == plain


@pytest.mark.parametrize("query", ["EIO=3&transport=polling",
                                   "EIO=3&transport=polling&b64=1",
                                   "EIO=3&transport=polling&j=0",
                                   "EIO=3&transport=polling&j=12",
                                   "EIO=4&transport=polling"])  # JSONP is v3 only
def test_engine_io_v3_and_jsonp_answers_are_compressed(base, query):
    headers, raw, plain = eio_answer(base, BIG, "gzip", False, query=query)
    assert headers["content-encoding"] == "gzip"
    assert int(headers["content-length"]) == len(raw) < len(plain)
    if "&j=" in query:
        assert plain.startswith(b"___eio[")


def test_a_handshake_answer_below_the_threshold_stays_plain(base):
    _, headers, body = exchange(base, "GET", "/socket.io/?EIO=4&transport=polling",
                                accept="gzip")
    assert "content-encoding" not in headers and body.startswith(b"0{")


# -- socket.io 0.6 xhr-polling and jsonp-polling ----------------------------------------------

@pytest.mark.parametrize("transport,index", [("xhr-polling", ""), ("jsonp-polling", "/0")])
@pytest.mark.parametrize("accept,coding", [("gzip", "gzip"), ("deflate", "deflate"),
                                           ("identity", None)])
def test_legacy_polling_answers_are_compressed(transport, index, accept, coding):
    from helpers.wire06 import decode
    router = geventio.get_router(echo_handler(Recorder(), greeting=BIG))
    with serve(make_application([router])) as base:
        _, headers, raw = exchange(base, "GET", "/socket.io/%s//1305500000000%s"
                                   % (transport, index), accept=accept)
        plain = decoded(headers, raw).decode("utf-8")
        if coding is None:
            return  # the handshake answer may or may not carry the greeting yet
        text = plain
        if transport == "jsonp-polling":
            text = json.loads(plain[plain.index("(") + 1:plain.rindex(")")])
        messages = decode(text)
        sid = messages[0]
        if BIG not in messages:
            _, headers, raw = exchange(base, "GET", "/socket.io/%s/%s/1305500000001%s"
                                       % (transport, sid, index), accept=accept)
            plain = decoded(headers, raw).decode("utf-8")
            assert BIG in plain
        assert headers.get("content-encoding") == coding
        assert headers["vary"] == "Accept-Encoding"
        assert int(headers["content-length"]) == len(raw) < len(plain)


def test_the_settings_default_to_node_s_and_refuse_a_negative_threshold():
    settings = geventio.Settings()
    assert settings.http_compression is True and settings.compression_threshold == 1024
    with pytest.raises(ValueError, match="compression_threshold"):
        geventio.Settings(compression_threshold=-1).validate()
