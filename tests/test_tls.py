"""TLS terminated in front: HAProxy with the configuration docs/DEPLOYMENT.md shows
(docs/deploy/haproxy.cfg, its ``bind`` line replaced by the TLS one the guide's TLS section
shows, with only the port and the certificate's path changed), before three geventio
processes sharing a Redis. Clients over https polling and wss keep every request on the
process that made their session, upgrade, and chat. The certificate is a self-signed one
made for the test (``openssl req -x509``); the clients do not check it."""
import http.client
import json
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from helpers import REPO_ROOT
from helpers.balancer import DEPLOYMENT, Balanced, replace_once, server_ports
from helpers.chatters import every_kind, wait_until_heard
from helpers.eio_client import WSClient, handshake, post, url
from helpers.node import node_available, run_node
from helpers.wire import request

STICKY_JS = os.path.join(REPO_ROOT, "tests", "js", "modern", "sticky.js")
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)
OPENSSL = shutil.which("openssl")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(HAPROXY is None,
                                 reason="haproxy is not installed (scripts/test.sh installs it)"),
              pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")]
needs_node = pytest.mark.skipif(not node_available(), reason="node or node_modules missing")

# The frontend's bind line in docs/DEPLOYMENT.md's TLS section.
TLS_BIND = "bind 127.0.0.1:8443 ssl crt /etc/haproxy/site.pem"


def self_signed_pem(directory):
    """A certificate for 127.0.0.1 and its key, in one PEM file (as HAProxy's crt wants)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    pem = directory / "site.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    return pem


@pytest.fixture
def tls_front(tmp_path, private_redis):
    pem = self_signed_pem(tmp_path)

    def templated(config, front, backs):
        """haproxy.cfg with the guide's TLS bind line (port and certificate path changed)."""
        tls_bind = TLS_BIND.replace("127.0.0.1:8443", "127.0.0.1:%d" % front)
        tls_bind = tls_bind.replace("/etc/haproxy/site.pem", str(pem))
        config = replace_once(r"(?m)^(\s*)bind 127\.0\.0\.1:8000$",
                              lambda m: m.group(1) + tls_bind, config)
        return server_ports(config, backs)

    b = Balanced(tmp_path, "haproxy.cfg", templated, lambda cfg: [HAPROXY, "-f", cfg],
                 extra=["--message-queue", private_redis.url], scheme="https")
    yield b
    b.close()


def test_the_deployment_guide_shows_the_tls_bind_line_the_tests_run():
    with open(DEPLOYMENT) as fh:
        guide = fh.read()
    tls_section = guide[guide.index("\n## TLS"):]
    assert "\n  " + TLS_BIND + "\n" in tls_section


def test_plain_http_is_not_served_on_the_tls_port(tls_front):
    with pytest.raises((OSError, http.client.HTTPException)):
        request(tls_front.base.replace("https:", "http:"), "GET", "/whoami", timeout=3)
    assert tls_front.whoami() in tls_front.pids


@needs_node
@pytest.mark.parametrize("version,variant", [("v4", "polling"), ("v4", "upgrade"),
                                             ("v2", "polling"), ("v2", "upgrade")])
def test_node_clients_over_https_and_wss_stay_on_their_process(tls_front, version, variant):
    report = run_node(STICKY_JS, tls_front.base, version, variant, 6, 6, timeout=60)
    assert report["errors"] == []
    for client in report["clients"]:
        assert len(set(client["pids"])) == 1, client
        assert client["transport"] == ("websocket" if variant == "upgrade" else "polling")
    spread = Counter(client["pids"][0] for client in report["clients"])
    assert set(spread) <= tls_front.pids and len(spread) > 1


@needs_node
def test_node_clients_over_tls_chat_with_polling_clients_of_every_generation(tls_front):
    members = every_kind(tls_front.base, each=2)
    proc = subprocess.Popen(["node", STICKY_JS, tls_front.base, "chat",
                             "v4:polling,v4:upgrade,v2:upgrade,v4:upgrade"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())["ready"]
        assert set(ready) <= tls_front.pids
        members[1].say("from python")  # a 0.6 htmlfile client
        heard = wait_until_heard(members, "from python")
        out, _ = proc.communicate(timeout=30)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["errors"] == []
        assert [text for _, text in report["heard"]] == ["from node"] * 4
        assert {pid for pid, _ in wait_until_heard(members, "from node")} == {ready[0]}
        assert len(set(ready) | {pid for pid, _ in heard}) > 1  # across processes
    finally:
        if proc.poll() is None:
            proc.kill()
        for member in members:
            member.close()


def test_a_raw_client_polls_over_https_upgrades_to_wss_and_chats(tls_front):
    base = tls_front.base
    sid, _ = handshake(base, "socket.io")
    assert post(base, "socket.io", sid, "40")[::2] == (200, b"ok")
    status, _, body = request(base, "GET", url("socket.io", sid=sid))
    assert status == 200 and body.startswith(b"40{"), body
    ws = WSClient(base, url("socket.io", transport="websocket", sid=sid))  # wss://
    try:
        ws.send("2probe")
        assert ws.receive() == "3probe"
        ws.send("5")
        ws.send('421["whoami"]')
        [pid] = json.loads(re.fullmatch(r"431(.*)", ws.receive()).group(1))
        assert pid in tls_front.pids
        others = every_kind(base)  # polling over https, every generation
        try:
            others[0].say("hello over TLS")
            heard = wait_until_heard(others, "hello over TLS")
            said = json.loads(ws.receive()[2:])
            assert said[0] == "said" and said[2] == "hello over TLS"
            assert said[1] == heard[0][0]
        finally:
            for member in others:
                member.close()
    finally:
        ws.close()
