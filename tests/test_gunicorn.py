"""geventio under real gunicorn: ``gunicorn -k geventio.gunicorn.GeventioWorker``.

Each test starts gunicorn on a free port with tests/apps/gunicorn_app.py and talks to it
with real clients: socket.io-client 4.x and 2.x in Node (polling, websocket, upgrade), and
the socket.io 0.6 wire (xhr-polling and a WebSocket). Shutdown tests count the on_close
lines the app writes to $GEVENTIO_CLOSE_LOG.
"""
import contextlib
import os
import re
import signal
import sys

import pytest
from gunicorn.config import Config

from helpers import REPO_ROOT
from helpers.browser import browser_available, run_pages
from helpers.eio_client import WSClient, handshake, post, wait_until
from helpers.node import node_available, run_node
from helpers.process import Child, free_port, wait_for_handshake
from helpers.wire import post as post_form
from helpers.wire import request
from helpers.wire06 import RFC6455Client, decode, encode

pytestmark = pytest.mark.slow

CLIENT = os.path.join(REPO_ROOT, "tests", "js", "gunicorn", "client.js")


@contextlib.contextmanager
def gunicorn(tmp_path, *options):
    """gunicorn with GeventioWorker serving tests/apps/gunicorn_app.py on a free port;
    yields (child, base URL, path of the on_close log). The start-up check opens one 0.6
    xhr-polling session (STARTUP_SESSIONS), whose on_close runs at shutdown too."""
    port = free_port()
    close_log = tmp_path / "closed.log"
    close_log.touch()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_ROOT,
                                                       os.path.join(REPO_ROOT, "tests")]),
               GEVENTIO_CLOSE_LOG=str(close_log))
    cmd = [sys.executable, "-m", "gunicorn", "-k", "geventio.gunicorn.GeventioWorker",
           "-b", "127.0.0.1:%d" % port, "--graceful-timeout", "5", *options]
    if "control_socket_disable" in Config().settings:
        cmd.append("--no-control-socket")
    cmd.append("apps.gunicorn_app:application")
    child = Child(cmd, env=env)
    try:
        base = "http://127.0.0.1:%d" % port
        wait_for_handshake(child, base)
        yield child, base, close_log
    finally:
        child.close()


#: the sessions the start-up check opens (a 0.6 xhr-polling handshake)
STARTUP_SESSIONS = ["socket.io-0.6"]


def closed_lines(close_log):
    return close_log.read_text().splitlines()


def connect_modern_polling(base):
    """An Engine.IO 4 polling session connected to "/" (its CONNECT answered)."""
    sid, _ = handshake(base, "socket.io")
    assert post(base, "socket.io", sid, "40")[0] == 200
    status, _, body = request(base, "GET", "/socket.io/?EIO=4&transport=polling&sid=" + sid)
    assert status == 200 and body.startswith(b"40"), body
    return sid


def connect_modern_websocket(base):
    """An Engine.IO 4 WebSocket session connected to "/"."""
    ws = WSClient(base, "/socket.io/?EIO=4&transport=websocket")
    assert ws.receive().startswith("0{")
    ws.send("40")
    assert ws.receive().startswith("40")
    return ws


def connect_06_websocket(base):
    ws = RFC6455Client(base, "/socket.io/websocket")
    assert ws.status == 101
    assert decode(ws.recv())  # the session id
    return ws


@pytest.fixture
def server(tmp_path):
    with gunicorn(tmp_path) as running:
        yield running


needs_node = pytest.mark.skipif(not node_available(), reason="needs node and npm ci")


@needs_node
@pytest.mark.parametrize("version", ["v4", "v2"])
@pytest.mark.parametrize("variant", ["polling", "websocket", "upgrade"])
def test_socketio_clients_talk_to_the_worker_on_every_transport(server, version, variant):
    _, base, _ = server
    report = run_node(CLIENT, base, version, variant)
    assert "error" not in report, report
    assert report["echo"] == ["hi", 2]
    assert report["message"] == ["plain"]
    assert report["shouted"] == ["all"]
    assert report["transport"] == ("polling" if variant == "polling" else "websocket")


def test_a_06_xhr_polling_client_talks_to_the_worker(server):
    _, base, _ = server
    sid = decode(wait_for_handshake(server[0], base).decode())[0]
    assert post_form(base, "/socket.io/xhr-polling/%s/send" % sid, encode("hello"))[0] == 200
    status, _, body = request(base, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    assert "hello" in decode(body.decode())


def test_a_06_websocket_client_talks_to_the_worker(server):
    _, base, _ = server
    ws = connect_06_websocket(base)
    ws.send(encode("over the websocket"))
    messages = []
    while "over the websocket" not in messages:
        messages += decode(ws.recv())
    ws.close()


@pytest.mark.browser
@pytest.mark.skipif(not browser_available(), reason="needs chromium and npm ci")
@pytest.mark.parametrize("transport", ["websocket", "xhr-polling", "jsonp-polling"])
def test_the_06_client_in_chromium_talks_to_the_worker(server, transport):
    _, base, close_log = server
    run = run_pages("%s/?transport=%s" % (base, transport), timeout=60)
    result = run["pages"][0]["result"] or {}
    assert not result.get("errors"), run
    assert result["transportType"] == transport
    assert result["steps"]["string"] == "hello"
    assert result["steps"]["burst"] == ["burst %d" % i for i in range(50)]
    assert result["steps"]["serverDisconnectSeen"]
    wait_until(lambda: closed_lines(close_log), timeout=10)  # "close me" ran on_close


def test_sigterm_runs_every_on_close_before_the_worker_exits(server):
    child, base, close_log = server
    sockets = [connect_06_websocket(base), connect_modern_websocket(base)]
    connect_modern_polling(base)
    connect_modern_polling(base)
    child.signal(signal.SIGTERM)
    assert child.wait(15) == 0
    lines = closed_lines(close_log)
    assert sorted(line.split()[1] for line in lines) == sorted(
        ["engine.io-4", "engine.io-4", "engine.io-4", "socket.io-0.6"] + STARTUP_SESSIONS)
    for ws in sockets:
        ws.close()


def test_a_hup_reload_closes_the_old_workers_sessions_and_serves_with_a_new_one(server):
    child, base, close_log = server
    connect_modern_polling(base)
    ws = connect_06_websocket(base)
    old = _worker_pids(child)
    child.signal(signal.SIGHUP)
    wait_until(lambda: len(closed_lines(close_log)) == 2 + len(STARTUP_SESSIONS), timeout=15)
    assert {line.split()[0] for line in closed_lines(close_log)} == {str(p) for p in old}
    wait_until(lambda: _worker_pids(child) - old, timeout=15)
    connect_modern_polling(base)  # the new worker serves
    assert child.proc.poll() is None
    ws.close()


def test_max_requests_restarts_the_worker_gracefully(tmp_path):
    with gunicorn(tmp_path, "--max-requests", "6") as (child, base, close_log):
        connect_modern_polling(base)  # 3 requests, after the probe's 1 or more
        for _ in range(4):
            request(base, "GET", "/socket.io/?EIO=4&transport=polling")
        wait_until(lambda: "Autorestarting worker" in child.output()[1], timeout=10)
        wait_until(lambda: closed_lines(close_log), timeout=10)
        wait_until(lambda: len(_worker_pids(child)) >= 2, timeout=10)
        connect_modern_polling(base)


def _worker_pids(child):
    """Every worker pid gunicorn reported booting so far."""
    return {int(p) for p in re.findall(r"Booting worker with pid: (\d+)", child.output()[1])}


def test_the_worker_bounds_a_request_head_as_geventio_serve_does(server):
    _, base, _ = server
    status, _, _ = request(base, "GET", "/socket.io/?EIO=4&transport=polling",
                           headers={"X-Big": "x" * 20000})
    assert status == 431


def test_wsgi_server_is_told_of_each_request():
    from geventio.gunicorn import CountingWSGIServer
    counted = []
    server = CountingWSGIServer(("127.0.0.1", 0), lambda e, s: [])
    server.on_request = lambda: counted.append(1)
    server.get_environ()
    assert counted == [1]
