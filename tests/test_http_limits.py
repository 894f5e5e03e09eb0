"""Request heads are bounded in total (max_header_size: 431 and a closed connection) and a
body refused with 413 closes the connection, on both request paths."""
import time

import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.raw_http import (EIO_POST, LEGACY_POST, assert_healthy, connect, eio_session,
                              exchange, legacy_session, read_until_closed, status_of)
from helpers.server import make_application, serve

pytestmark = pytest.mark.timeout(30)

EIO_GET = "/socket.io/?EIO=4&transport=polling"
LEGACY_GET = "/socket.io/xhr-polling//1305500000000"


@pytest.fixture(scope="module")
def base():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router])) as base:
        yield base


@pytest.fixture(scope="module")
def small_base():
    """A server whose bound (4 KiB) is below the lean path's own 8 KiB head limit."""
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router], max_header_size=4096)) as base:
        yield base


def get_with_padding(path, lines, line_size):
    fields = ["X-Pad-%d: %s" % (i, "a" * line_size) for i in range(lines)]
    return ("\r\n".join(["GET %s HTTP/1.1" % path, "Host: t", "Connection: close"] + fields)
            + "\r\n\r\n").encode("latin-1")


@pytest.mark.parametrize("path", [EIO_GET, LEGACY_GET])
def test_a_head_over_16_kib_is_refused_with_431_and_closed(base, path):
    response, closed = exchange(base, get_with_padding(path, 90, 1024))
    assert status_of(response) == 431, response[:200]
    assert b"connection: close" in response.lower()
    assert closed
    assert_healthy(base)


@pytest.mark.parametrize("path", [EIO_GET, LEGACY_GET])
def test_a_head_just_under_the_bound_is_served(base, path):
    response, _ = exchange(base, get_with_padding(path, 15, 1000))
    assert status_of(response) == 200, response[:200]


@pytest.mark.parametrize("path", [EIO_GET, LEGACY_GET])
def test_an_endless_head_is_refused_without_reading_it_all(base, path):
    sock = connect(base)
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n" % path).encode())
        line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
        sent = 0
        try:
            while sent < 5_400_000:
                sock.sendall(line * 64)
                sent += len(line) * 64
        except OSError:
            pass  # refused and closed while we were still sending
        response, closed = read_until_closed(sock, 3)
    finally:
        sock.close()
    assert sent < 5_400_000 or status_of(response) == 431
    if response:
        assert status_of(response) == 431
    assert_healthy(base)


@pytest.mark.parametrize("path", [EIO_GET, LEGACY_GET])
def test_a_configured_bound_below_8_kib_holds_on_both_paths(small_base, path):
    # 6 KiB: the lean path would take this head (all buffered, under 8 KiB)
    response, closed = exchange(small_base, get_with_padding(path, 6, 1000))
    assert status_of(response) == 431, response[:200]
    assert closed
    response, _ = exchange(small_base, get_with_padding(path, 3, 1000))
    assert status_of(response) == 200, response[:200]
    assert_healthy(small_base)


@pytest.mark.parametrize("generation", ["engine.io", "socket.io 0.6"])
def test_a_413_for_a_huge_declared_body_closes_the_connection(base, generation):
    if generation == "engine.io":
        path = EIO_POST % eio_session(base)
    else:
        path = LEGACY_POST % legacy_session(base)
    sock = connect(base)
    try:
        sock.sendall(("POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                      "Content-Length: 100000000000\r\n\r\n" % path).encode() + b"x" * 4096)
        started = time.monotonic()
        response, closed = read_until_closed(sock, 3)
    finally:
        sock.close()
    assert status_of(response) == 413, response[:200]
    assert b"connection: close" in response.lower()
    assert closed and time.monotonic() - started < 3
    assert_healthy(base)
