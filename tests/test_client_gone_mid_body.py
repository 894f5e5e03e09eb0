"""A client that leaves in the middle of a POST body is one INFO line, not a traceback."""
import logging
import time

import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.raw_http import EIO_POST, LEGACY_POST, assert_healthy, connect, eio_session, \
    legacy_session
from helpers.server import make_application, serve

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def base():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router])) as base:
        yield base


@pytest.mark.parametrize("generation", ["socket.io 0.6", "engine.io"])
def test_a_client_leaving_mid_body_is_one_info_line(base, caplog, capfd, generation):
    if generation == "engine.io":
        path = EIO_POST % eio_session(base)
    else:
        path = LEGACY_POST % legacy_session(base)
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="geventio"):
        sock = connect(base)
        sock.sendall(("POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: "
                      "application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
                      "data=~m~" % path).encode())
        time.sleep(0.2)
        sock.close()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(
                "left during the request body" in r.getMessage() for r in caplog.records):
            time.sleep(0.02)
        time.sleep(0.1)
    left = [r for r in caplog.records if "left during the request body" in r.getMessage()]
    assert len(left) == 1 and left[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Traceback" not in capfd.readouterr().err
    assert_healthy(base)
