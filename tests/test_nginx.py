"""nginx in front of three geventio processes, with the configuration docs/DEPLOYMENT.md
shows (docs/deploy/nginx.conf, only its ports changed). nginx's ``ip_hash`` picks the process
by the client's address (for IPv4 its first three octets), so every request of a session,
of every protocol generation and transport, reaches the process that made it; clients from
one address all share one process. The clients here come from several loopback networks
(127.0.N.1: any 127.x.y.z is the loopback on Linux) to be spread over the processes."""
import json
import os
import re
import subprocess
import time
from collections import Counter

import pytest

from helpers import REPO_ROOT
from helpers.balancer import NETWORKS, NGINX, Balanced, nginx, nginx_ports, shown_in_guide
from helpers.chatters import every_kind, wait_until_heard
from helpers.clients06 import TRANSPORTS
from helpers.node import node_available, run_node

STICKY_JS = os.path.join(REPO_ROOT, "tests", "js", "modern", "sticky.js")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(NGINX is None,
                                 reason="nginx is not installed (scripts/test.sh installs it)")]
needs_node = pytest.mark.skipif(not node_available(), reason="node or node_modules missing")

def start(tmp_path, extra=()):
    # ip_hash sends the balancer's own /whoami checks (from 127.0.0.1) to one server: no
    # waiting for a spread there.
    return Balanced(tmp_path, "nginx.conf", nginx_ports, nginx, extra=extra,
                    wait_for_spread=False)


@pytest.fixture
def balanced(tmp_path):
    b = start(tmp_path)
    yield b
    b.close()


@pytest.fixture
def balanced_cluster(tmp_path, private_redis):
    b = start(tmp_path, extra=["--message-queue", private_redis.url])
    yield b
    b.close()


def from_address(base, address):
    return "%s#from=%s" % (base, address)


def test_the_deployment_guide_shows_the_config_the_tests_run():
    assert shown_in_guide("nginx.conf")


def test_clients_from_one_address_all_reach_one_process(balanced):
    assert {balanced.whoami() for _ in range(9)} == {balanced.whoami()}
    assert balanced.whoami() in balanced.pids


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_legacy_polling_clients_stay_on_their_process(balanced, transport):
    started = time.monotonic()
    clients = [TRANSPORTS[transport](from_address(balanced.base, address))
               for address in NETWORKS]
    try:
        assert time.monotonic() - started < 1.5  # nothing is held back (proxy_buffering off)
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
        assert len(set.union(*seen.values())) > 1  # spread by address
    finally:
        for client in clients:
            client.close()


@needs_node
@pytest.mark.parametrize("version,variant", [("v4", "polling"), ("v4", "upgrade"),
                                             ("v2", "polling"), ("v2", "upgrade")])
def test_modern_clients_stay_on_their_process(balanced, monkeypatch, version, variant):
    monkeypatch.setenv("STICKY_FROM", ",".join(NETWORKS))  # client n from NETWORKS[n]
    report = run_node(STICKY_JS, balanced.base, version, variant, 6, 8, timeout=60)
    assert report["errors"] == []
    for client in report["clients"]:
        assert len(set(client["pids"])) == 1, client
        # with upgrade: the WebSocket went through nginx
        assert client["transport"] == ("websocket" if variant == "upgrade" else "polling")
    spread = Counter(client["pids"][0] for client in report["clients"])
    assert set(spread) <= balanced.pids and len(spread) > 1


def test_polling_clients_of_every_generation_chat_across_processes(balanced_cluster):
    members = []
    try:
        for address in NETWORKS[:3]:
            members += every_kind(from_address(balanced_cluster.base, address))
        for speaker in (members[0], members[-1]):  # a 4.x and a 0.6 xhr-polling client
            text = "hello from " + speaker.kind
            speaker.say(text)
            heard = wait_until_heard(members, text)
            assert len({pid for pid, _ in heard}) == 1
    finally:
        for member in members:
            member.close()


@needs_node
def test_node_clients_chat_with_legacy_ones_across_processes(balanced_cluster):
    members = every_kind(from_address(balanced_cluster.base, NETWORKS[0]))
    env = dict(os.environ, STICKY_FROM=",".join(NETWORKS[1:]))
    proc = subprocess.Popen(["node", STICKY_JS, balanced_cluster.base, "chat",
                             "v4:polling,v2:polling,v4:upgrade,v2:upgrade,v4:polling"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env)
    try:
        ready = json.loads(proc.stdout.readline())["ready"]
        assert set(ready) <= balanced_cluster.pids
        members[1].say("from python")  # a 0.6 htmlfile client
        wait_until_heard(members, "from python")
        out, _ = proc.communicate(timeout=30)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["errors"] == []
        assert [text for _, text in report["heard"]] == ["from node"] * 5
        assert {pid for pid, _ in wait_until_heard(members, "from node")} == {ready[0]}
        # the members were on more than one process between them
        assert len(set(ready) | {pid for pid, _ in wait_until_heard(members, "from python")}) > 1
    finally:
        if proc.poll() is None:
            proc.kill()
        for member in members:
            member.close()
