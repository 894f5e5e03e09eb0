"""geventio-serve --workers 3: one port, three worker processes, and every request of a
session (any generation, any transport, kept-alive connections included) reaching the worker
that owns it; a dead worker replaced; SIGTERM closing every session everywhere."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter

import pytest

from helpers import REPO_ROOT
from helpers.chatters import every_kind, wait_until_heard
from helpers.clients06 import TRANSPORTS
from helpers.node import node_available, run_node
from helpers.process import Child, free_port, geventio_serve, wait_for_page
from helpers.wire import request

APP = os.path.join(REPO_ROOT, "tests", "apps", "sticky_app.py") + ":application"
STICKY_JS = os.path.join(REPO_ROOT, "tests", "js", "modern", "sticky.js")
needs_node = pytest.mark.skipif(not node_available(), reason="node or node_modules missing")


def pids_of(child):
    """The worker pids the parent logged as started, by index (the latest per index)."""
    found = {}
    for index, pid in re.findall(r"worker (\d+) started \(pid (\d+)\)", child.output()[1]):
        found[int(index)] = int(pid)
    return found


class Cluster:
    """geventio-serve APP --workers N, on a free port, recording into ``records``."""

    def __init__(self, records, workers=3, extra=()):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.records = records
        env = dict(os.environ, GEVENTIO_TEST_RECORDS=str(records))
        self.child = Child(geventio_serve() + [APP, "--port", str(self.port), "--workers",
                                               str(workers), *extra], env=env)
        wait_for_page(self.child, self.base, "/whoami")
        deadline = time.monotonic() + 20
        while len(pids_of(self.child)) < workers or "serving on" not in self.child.output()[1]:
            assert time.monotonic() < deadline, self.child.output()
            time.sleep(0.05)

    def handshake(self):
        """A new Engine.IO v4 polling session: its sid."""
        status, _, body = request(self.base, "GET", "/socket.io/?EIO=4&transport=polling")
        assert status == 200, body
        return json.loads(body[1:])["sid"]

    def lines(self, name):
        path = self.records / name
        return path.read_text().split("\n")[:-1] if path.exists() else []

    def close(self):
        self.child.close()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, extra=["--no-message-queue"])
    yield c
    c.close()


def exchange(conn, sid, body):
    """POST ``body`` for the session over the kept-alive ``conn``; the next GET's answer."""
    path = "/socket.io/?EIO=4&transport=polling&sid=" + sid
    conn.request("POST", path, body=body)
    assert conn.getresponse().read() == b"ok"
    conn.request("GET", path)
    return conn.getresponse().read()


def whoami_over(conn, sid, connect=True):
    """(Connect the session's "/" namespace and) ask whoami over ``conn``: the pid."""
    if connect:
        assert exchange(conn, sid, b"40").startswith(b"40{")
    answer = exchange(conn, sid, b'421["whoami"]')
    return int(re.fullmatch(rb"431\[(\d+)\]", answer).group(1))


def test_workers_are_refused_without_a_message_queue_when_the_application_has_routers(tmp_path):
    port = free_port()
    child = Child(geventio_serve() + [APP, "--port", str(port), "--workers", "2"],
                  env=dict(os.environ, GEVENTIO_TEST_RECORDS=str(tmp_path)))
    try:
        assert child.wait(30) != 0
        err = child.output()[1]
        assert "--workers 2 needs --message-queue URL" in err
        assert "'socket.io'" in err
    finally:
        child.close()


@pytest.mark.slow
def test_new_sessions_spread_evenly_over_the_workers(cluster):
    sids = [cluster.handshake() for _ in range(9)]
    assert Counter(sid[0] for sid in sids) == {"A": 3, "B": 3, "C": 3}


@pytest.mark.slow
def test_a_kept_alive_connection_carries_requests_of_sessions_on_every_worker(cluster):
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=10)
    sids = []
    for _ in range(3):  # three handshakes on the one connection: still spread
        conn.request("GET", "/socket.io/?EIO=4&transport=polling")
        sids.append(json.loads(conn.getresponse().read()[1:])["sid"])
    assert sorted(sid[0] for sid in sids) == ["A", "B", "C"]
    pids = {sid: whoami_over(conn, sid) for sid in sids}
    assert len(set(pids.values())) == 3
    assert {sid: whoami_over(conn, sid, connect=False) for sid in reversed(sids)} == pids
    conn.close()


def assert_each_client_stays_on_one_worker(report, clients):
    assert report["errors"] == []
    assert len(report["clients"]) == clients
    for client in report["clients"]:
        assert len(set(client["pids"])) == 1, client
    return Counter(client["pids"][0] for client in report["clients"])


@pytest.mark.slow
@needs_node
@pytest.mark.parametrize("version,variant", [("v4", "polling"), ("v4", "websocket"),
                                             ("v4", "upgrade"), ("v2", "polling"),
                                             ("v2", "upgrade")])
def test_modern_clients_stay_on_their_worker(cluster, version, variant):
    report = run_node(STICKY_JS, cluster.base, version, variant, 6, 8, timeout=60)
    spread = assert_each_client_stays_on_one_worker(report, 6)
    assert sorted(spread.values()) == [2, 2, 2]
    expected = "polling" if variant == "polling" else "websocket"
    assert {client["transport"] for client in report["clients"]} == {expected}


@pytest.mark.slow
@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_legacy_polling_clients_stay_on_their_worker(cluster, transport):
    clients = [TRANSPORTS[transport](cluster.base) for _ in range(3)]
    try:
        assert sorted(c.sid[0] for c in clients) == ["A", "B", "C"]
        seen = {}
        for round_ in range(4):
            for n, client in enumerate(clients):
                client.send("r%d" % round_)
                [answer] = client.receive()
                pid, text = re.fullmatch(r"pid:(\d+):(.*)", answer).groups()
                assert text == "r%d" % round_
                seen.setdefault(n, set()).add(int(pid))
        assert all(len(pids) == 1 for pids in seen.values())
        assert len(set.union(*seen.values())) == 3
    finally:
        for client in clients:
            client.close()


@pytest.mark.slow
@needs_node
def test_a_killed_worker_is_replaced_logged_and_its_clients_reconnect(cluster):
    proc = subprocess.Popen(["node", STICKY_JS, cluster.base, "v4", "polling", "reconnect"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        before = json.loads(proc.stdout.readline())["pid"]
        index = {pid: i for i, pid in pids_of(cluster.child).items()}[before]
        os.kill(before, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(out.strip().splitlines()[-1])
    assert report["before"] == before
    assert report["after"] != before
    assert report["after"] in pids_of(cluster.child).values()
    assert pids_of(cluster.child)[index] != before  # the slot has a new process
    assert re.search(r"worker %d \(pid %d\) was killed by SIGKILL; starting a new one"
                     % (index, before), cluster.child.output()[1])


@pytest.mark.slow
def test_sigterm_stops_every_worker_after_running_every_on_close(cluster):
    legacy = [TRANSPORTS["xhr-polling"](cluster.base) for _ in range(3)]
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=10)
    modern = [cluster.handshake() for _ in range(3)]
    for sid in modern:
        whoami_over(conn, sid)
    conn.close()
    workers = set(pids_of(cluster.child).values())
    opened = cluster.lines("opened.txt")
    assert len(opened) == 6 and {int(line.split()[0]) for line in opened} == workers
    assert {c.sid for c in legacy} <= {line.split()[1] for line in opened}
    cluster.child.signal(signal.SIGTERM)
    assert cluster.child.wait(30) == 0
    assert sorted(cluster.lines("closed.txt")) == sorted(opened)
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.fixture
def mq_cluster(tmp_path, private_redis):
    c = Cluster(tmp_path, extra=["--message-queue", private_redis.url])
    yield c
    c.close()


@pytest.mark.slow
def test_polling_clients_of_every_generation_chat_across_workers(mq_cluster):
    members = every_kind(mq_cluster.base, each=3)
    try:
        assert {m.sid[0] for m in members} == {"A", "B", "C"}
        for speaker in (members[0], members[-1]):  # a 4.x and a 0.6 xhr-polling client
            text = "hello from " + speaker.kind
            speaker.say(text)
            heard = wait_until_heard(members, text)
            assert len({pid for pid, _ in heard}) == 1  # said once, by the speaker's worker
    finally:
        for member in members:
            member.close()


@pytest.mark.slow
@needs_node
def test_modern_clients_of_every_transport_chat_with_legacy_ones_across_workers(mq_cluster):
    kinds = "v4:polling,v4:websocket,v4:upgrade,v2:polling,v2:upgrade,v4:websocket"
    members = every_kind(mq_cluster.base)
    proc = subprocess.Popen(["node", STICKY_JS, mq_cluster.base, "chat", kinds],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())["ready"]
        assert set(ready) == set(pids_of(mq_cluster.child).values())
        members[0].say("from python")
        wait_until_heard(members, "from python")
        out, _ = proc.communicate(timeout=30)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["errors"] == []
        assert [text for _, text in report["heard"]] == ["from node"] * 6
        heard = wait_until_heard(members, "from node")
        assert {pid for pid, _ in heard} == {ready[0]}
    finally:
        if proc.poll() is None:
            proc.kill()
        for member in members:
            member.close()


@pytest.mark.slow
def test_a_request_line_arriving_in_pieces_still_reaches_its_worker(cluster):
    sid = cluster.handshake()
    with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as sock:
        head = ("GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 2\r\n\r\n" % sid).encode()
        sock.sendall(b"POST /socket.io/?EIO=4&transp")
        time.sleep(0.3)
        sock.sendall(b"ort=polling&sid=" + sid.encode() + head[head.index(b" HTTP"):])
        sock.sendall(b"40")
        answer = b""
        while b"\r\n\r\nok" not in answer:
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.slow
def test_a_connection_closed_before_its_first_line_leaves_the_workers_serving(cluster):
    for _ in range(5):
        socket.create_connection(("127.0.0.1", cluster.port)).close()
        with socket.create_connection(("127.0.0.1", cluster.port)) as sock:
            sock.sendall(b"GET /socket.io/?EIO=4")
    assert len({cluster.handshake()[0] for _ in range(3)}) == 3


@pytest.mark.slow
def test_the_flash_policy_is_answered_on_the_http_port(cluster):
    from geventio.policy import default_policy, reply
    with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as sock:
        sock.sendall(b"<policy-file-request/>\0")
        answer = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer == reply(default_policy())
