"""Ambiguous request framing (RFC 9112 6.1, 6.3) is refused with 400 and a closed
connection on both request paths, and a request hidden in the body is never served."""
import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.raw_http import (EIO_POST, HIDDEN, LEGACY_POST, assert_healthy, eio_session,
                              exchange, legacy_session, status_of)
from helpers.server import make_application, serve

pytestmark = pytest.mark.timeout(30)

CHUNKED_END = b"0\r\n\r\n"

# (fields after Host, body): each would let a request hide in the body
SHAPES = {
    "two Content-Length values": (["Content-Length: 0", "Content-Length: %d" % len(HIDDEN)],
                                  HIDDEN),
    "Content-Length listing two values": (["Content-Length: 0, %d" % len(HIDDEN)], HIDDEN),
    "Transfer-Encoding with Content-Length": (
        ["Transfer-Encoding: chunked", "Content-Length: %d" % len(CHUNKED_END + HIDDEN)],
        CHUNKED_END + HIDDEN),
    "Content-Length with Transfer-Encoding": (
        ["Content-Length: %d" % len(CHUNKED_END + HIDDEN), "Transfer-Encoding: chunked"],
        CHUNKED_END + HIDDEN),
    "chunked, identity": (["Transfer-Encoding: chunked, identity"], HIDDEN),
    "xchunked": (["Transfer-Encoding: xchunked"], HIDDEN),
    "chunked twice": (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                      CHUNKED_END + HIDDEN),
    "whitespace before the colon": (["Content-Length : %d" % len(HIDDEN)], HIDDEN),
    "plus sign": (["Content-Length: +0"], HIDDEN),
    "minus sign": (["Content-Length: -0"], HIDDEN),
    "spaces inside": (["Content-Length: 1 4"], HIDDEN),
    "negative": (["Content-Length: -1"], HIDDEN),
    "obsolete line folding": (["Content-Length: 0", " %d" % len(HIDDEN)], HIDDEN),
}


@pytest.fixture(scope="module")
def served():
    record = []

    def fallback(environ, start_response):
        record.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
        return [b"smuggled"]

    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router], fallback=fallback)) as base:
        yield base, record


def request_bytes(path, fields, body):
    head = ["POST %s HTTP/1.1" % path, "Host: t", "Content-Type: text/plain"] + fields
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("generation", ["engine.io", "socket.io 0.6"])
def test_ambiguous_framing_is_refused_and_the_hidden_request_never_served(
        served, shape, generation):
    base, record = served
    if generation == "engine.io":
        path = EIO_POST % eio_session(base)
    else:
        path = LEGACY_POST % legacy_session(base)
    fields, body = SHAPES[shape]
    del record[:]
    response, closed = exchange(base, request_bytes(path, fields, body))
    assert status_of(response) == 400, response[:200]
    assert closed
    assert response.count(b"HTTP/1.1 ") == 1, response
    assert b"smuggled" not in response and record == []
    assert_healthy(base)


@pytest.mark.parametrize("generation", ["engine.io", "socket.io 0.6"])
def test_identical_repeated_lengths_count_as_one(served, generation):
    base, record = served
    if generation == "engine.io":
        path, payload, answer = EIO_POST % eio_session(base), b"40", b"ok"
    else:
        path, payload, answer = LEGACY_POST % legacy_session(base), b"data=~m~1~m~x", b"ok"
    for fields in (["Content-Length: %d" % len(payload)] * 2,
                   ["Content-Length: %d, %d" % (len(payload), len(payload))]):
        response, _ = exchange(base, request_bytes(path, fields, payload)
                               + b"GET /smuggled HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert status_of(response) == 200, response[:300]
        assert response.split(b"\r\n\r\n", 1)[1].startswith(answer)
        assert b"smuggled" in response  # a genuine next request on the connection


def test_the_policy_itself():
    from geventio.protocol.http1 import FramingError, body_length

    assert body_length("HTTP/1.1", [], []) is None
    assert body_length("HTTP/1.1", ["14"], []) == 14
    assert body_length("HTTP/1.1", ["14", "14, 14"], []) == 14
    assert body_length("HTTP/1.1", [], ["Chunked"]) is None
    for lengths, codings, version in [
            (["1", "2"], [], "HTTP/1.1"), (["+1"], [], "HTTP/1.1"), ([""], [], "HTTP/1.1"),
            (["1" * 19], [], "HTTP/1.1"), (["1"], ["chunked"], "HTTP/1.1"),
            ([], ["gzip, chunked"], "HTTP/1.1"), ([], ["chunked"], "HTTP/1.0")]:
        with pytest.raises(FramingError):
            body_length(version, lengths, codings)
