"""HAProxy in front of three geventio processes, with the configuration docs/DEPLOYMENT.md
shows (docs/deploy/haproxy.cfg, only its ports changed): every polling client, of every
protocol generation, keeps talking to the process that made its session."""
import json
import os
import re
import subprocess
import time
from collections import Counter

import pytest

from helpers import REPO_ROOT
from helpers.chatters import every_kind, wait_until_heard
from helpers.clients06 import TRANSPORTS
from helpers.node import node_available, run_node
from helpers.balancer import HAPROXY, Balanced, haproxy, haproxy_ports, shown_in_guide

STICKY_JS = os.path.join(REPO_ROOT, "tests", "js", "modern", "sticky.js")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(HAPROXY is None,
                                 reason="haproxy is not installed (scripts/test.sh installs it)")]
needs_node = pytest.mark.skipif(not node_available(), reason="node or node_modules missing")


@pytest.fixture
def balanced(tmp_path):
    b = Balanced(tmp_path, "haproxy.cfg", haproxy_ports, haproxy)
    yield b
    b.close()


def test_the_deployment_guide_shows_the_config_the_tests_run():
    assert shown_in_guide("haproxy.cfg")


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_legacy_polling_clients_stay_on_their_process(balanced, transport):
    started = time.monotonic()
    clients = [TRANSPORTS[transport](balanced.base) for _ in range(3)]
    try:
        assert time.monotonic() - started < 1.5  # HAProxy reads the sid without holding it
        seen = {}
        for round_ in range(4):
            for n, client in enumerate(clients):
                client.send("r%d" % round_)
                [answer] = client.receive()
                pid, text = re.fullmatch(r"pid:(\d+):(.*)", answer).groups()
                assert text == "r%d" % round_
                seen.setdefault(n, set()).add(int(pid))
        assert all(len(pids) == 1 for pids in seen.values()), seen
        assert set.union(*seen.values()) <= balanced.pids
        assert len(set.union(*seen.values())) > 1  # spread, not pinned to one process
    finally:
        for client in clients:
            client.close()


@needs_node
@pytest.mark.parametrize("version,variant", [("v4", "polling"), ("v4", "upgrade"),
                                             ("v2", "polling"), ("v2", "upgrade")])
def test_modern_clients_stay_on_their_process(balanced, version, variant):
    report = run_node(STICKY_JS, balanced.base, version, variant, 6, 8, timeout=60)
    assert report["errors"] == []
    for client in report["clients"]:
        assert len(set(client["pids"])) == 1, client
    spread = Counter(client["pids"][0] for client in report["clients"])
    assert set(spread) <= balanced.pids and len(spread) > 1


@pytest.fixture
def balanced_cluster(tmp_path, private_redis):
    b = Balanced(tmp_path, "haproxy.cfg", haproxy_ports, haproxy,
                 extra=["--message-queue", private_redis.url])
    yield b
    b.close()


def test_polling_clients_of_every_generation_chat_across_processes(balanced_cluster):
    members = every_kind(balanced_cluster.base, each=3)
    try:
        for speaker in (members[0], members[-1]):  # a 4.x and a 0.6 xhr-polling client
            text = "hello from " + speaker.kind
            speaker.say(text)
            assert len({pid for pid, _ in wait_until_heard(members, text)}) == 1
    finally:
        for member in members:
            member.close()


@needs_node
def test_node_polling_clients_chat_with_legacy_ones_across_processes(balanced_cluster):
    members = every_kind(balanced_cluster.base)
    proc = subprocess.Popen(["node", STICKY_JS, balanced_cluster.base, "chat",
                             "v4:polling,v2:polling,v4:polling,v2:polling,v4:polling"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())["ready"]
        assert len(set(ready)) > 1 and set(ready) <= balanced_cluster.pids
        members[1].say("from python")  # a 0.6 htmlfile client
        wait_until_heard(members, "from python")
        out, _ = proc.communicate(timeout=30)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["errors"] == []
        assert [text for _, text in report["heard"]] == ["from node"] * 5
        assert {pid for pid, _ in wait_until_heard(members, "from node")} == {ready[0]}
    finally:
        if proc.poll() is None:
            proc.kill()
        for member in members:
            member.close()
