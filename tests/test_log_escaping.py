"""Every value from a client is escaped where geventio logs it: no forged log lines."""
import importlib
import logging
import pkgutil

import pytest

import geventio
from geventio import logsafe
from helpers.apps import Recorder, echo_handler
from helpers.raw_http import exchange
from helpers.server import make_application, serve
from helpers.wire import request

pytestmark = pytest.mark.timeout(30)

FORGED = "2026-01-01 00:00:00,000 CRITICAL forged"
ENCODED = "%0A2026-01-01%2000:00:00,000%20CRITICAL%20forged"


@pytest.fixture(scope="module")
def base():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router])) as base:
        yield base


def lines_of(caplog):
    return [line for record in caplog.records for line in record.getMessage().splitlines()]


@pytest.mark.parametrize("path,decoded", [
    ("/socket.io/xhr-polling/" + ENCODED, True),
    ("/socket.io/xhr-polling/" + ENCODED + "/send", True),
    ("/socket.io/" + ENCODED + "/x", True),
    ("/socket.io/?EIO=4&transport=polling&sid=" + ENCODED, False),
    ("/socket.io/?EIO=9&transport=polling&x=" + ENCODED, False),
])
def test_a_percent_encoded_line_feed_cannot_forge_a_log_line(base, caplog, path, decoded):
    with caplog.at_level(logging.DEBUG, logger="geventio"):
        request(base, "GET", path)
        request(base, "POST", path, body=b"x", headers={"Content-Type": "text/plain"})
    assert caplog.records, "nothing was logged"
    for line in lines_of(caplog):
        assert not line.startswith(FORGED), lines_of(caplog)
    if decoded:  # the decoded path was logged, escaped
        assert any("\\n" + FORGED in record.getMessage() for record in caplog.records)


def test_a_refused_request_line_is_logged_escaped(base, caplog):
    with caplog.at_level(logging.DEBUG, logger="geventio"):
        exchange(base, b"GET /socket.io/\x1b[31mred HTTP/1.1\r\nHost: t\r\n"
                       b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", timeout=1)
    for record in caplog.records:
        assert "\x1b" not in record.getMessage()


def test_escape_leaves_printable_text_alone_and_escapes_the_rest():
    assert logsafe.escape("plain /path?q=é") == "plain /path?q=é"
    assert logsafe.escape("a\nb\r\x1b\u2028") == "a\\nb\\r\\x1b\\u2028"


def test_non_text_arguments_still_format_and_are_escaped(caplog):
    log = logging.getLogger("geventio.router")
    with caplog.at_level(logging.INFO, logger="geventio"):
        log.info("%d %s %r %s", 3, ValueError("x\ny"), "a\nb", b"c\nd")
        log.info("%s|%-4s|%.2s", "a\nb", "x", "y\n")
    first, second = [record.getMessage() for record in caplog.records[-2:]]
    assert first == "3 x\\ny 'a\\nb' b'c\\nd'"
    assert second == "a\\nb|x   |y\\"


def test_every_geventio_module_logger_escapes():
    for module in pkgutil.walk_packages(geventio.__path__, "geventio."):
        importlib.import_module(module.name)
    geventio.SocketServer(make_application([]), auto_start=False)  # installs again
    for name in [m.name for m in pkgutil.walk_packages(geventio.__path__, "geventio.")] + [
            "geventio.access"]:
        assert logsafe.FILTER in logging.getLogger(name).filters, name
