"""TLS terminated in front, before three geventio processes sharing a Redis: HAProxy and
nginx with the configurations docs/DEPLOYMENT.md shows (docs/deploy/haproxy.cfg,
docs/deploy/nginx.conf), their listening line replaced by the TLS lines the guide's TLS
section shows, with only the port and the certificate's paths changed. Behind nginx
(ip_hash), clients come from several loopback networks to be spread over the processes.
Clients over https polling and wss keep every request on the process that made their
session, upgrade, and chat. The certificate is a self-signed one made for the test
(``openssl req -x509``); the clients do not check it."""
import http.client
import json
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from helpers import REPO_ROOT
from helpers.balancer import (DEPLOYMENT, HAPROXY, NETWORKS, NGINX, Balanced, haproxy, nginx,
                              replace_once, server_ports)
from helpers.chatters import every_kind, wait_until_heard
from helpers.eio_client import WSClient, handshake, post, url
from helpers.node import node_available, run_node
from helpers.wire import request

STICKY_JS = os.path.join(REPO_ROOT, "tests", "js", "modern", "sticky.js")
OPENSSL = shutil.which("openssl")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")]
needs_node = pytest.mark.skipif(not node_available(), reason="node or node_modules missing")

# The lines of docs/DEPLOYMENT.md's TLS section that replace the listening line.
HAPROXY_TLS = """  bind 127.0.0.1:8443 ssl crt /etc/haproxy/site.pem
"""
NGINX_TLS = """        listen 127.0.0.1:8443 ssl;
        ssl_certificate /etc/nginx/site.crt;
        ssl_certificate_key /etc/nginx/site.key;
"""


class Files:
    def __init__(self, directory):
        """A self-signed certificate for 127.0.0.1 and its key, made for the test; and the
        two in one file (as HAProxy's crt wants)."""
        self.cert, self.key = directory / "cert.pem", directory / "key.pem"
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(self.key), "-out", str(self.cert)],
                       check=True, capture_output=True)
        self.pem = directory / "site.pem"
        self.pem.write_bytes(self.cert.read_bytes() + self.key.read_bytes())


def with_tls(listening, tls_lines, paths):
    """A templating function: the config with its ``listening`` line replaced by
    ``tls_lines`` (port 8443 and the certificate paths changed), and its servers' ports."""
    def templated(config, front, backs):
        lines = tls_lines.replace("127.0.0.1:8443", "127.0.0.1:%d" % front)
        for documented, actual in paths.items():
            lines = lines.replace(documented, str(actual))
        config = replace_once("(?m)^%s\n" % re.escape(listening), lambda _: lines, config)
        return server_ports(config, backs)
    return templated


FRONTS = {
    "haproxy": (HAPROXY, "haproxy.cfg", "  bind 127.0.0.1:8000", HAPROXY_TLS, haproxy,
                lambda f: {"/etc/haproxy/site.pem": f.pem}),
    "nginx": (NGINX, "nginx.conf", "        listen 127.0.0.1:8000;", NGINX_TLS, nginx,
              lambda f: {"/etc/nginx/site.crt": f.cert, "/etc/nginx/site.key": f.key}),
}


@pytest.fixture(params=sorted(FRONTS))
def tls_front(request, tmp_path, private_redis, monkeypatch):
    program, name, listening, tls_lines, command, paths = FRONTS[request.param]
    if program is None:
        pytest.skip("%s is not installed (scripts/test.sh installs it)" % request.param)
    templated = with_tls(listening, tls_lines, paths(Files(tmp_path)))
    b = Balanced(tmp_path, name, templated, command,
                 extra=["--message-queue", private_redis.url], scheme="https",
                 wait_for_spread=request.param == "haproxy")
    # nginx's ip_hash: clients from several networks (sticky.js's client n from the n-th)
    b.addresses = NETWORKS if request.param == "nginx" else []
    monkeypatch.setenv("STICKY_FROM", ",".join(b.addresses))
    yield b
    b.close()


def client_base(front, n):
    """The base URL of the n-th Python client: from the n-th network behind nginx."""
    if not front.addresses:
        return front.base
    return "%s#from=%s" % (front.base, front.addresses[n % len(front.addresses)])


@pytest.mark.parametrize("name,tls_lines", [("haproxy", HAPROXY_TLS), ("nginx", NGINX_TLS)])
def test_the_deployment_guide_shows_the_tls_lines_the_tests_run(name, tls_lines):
    with open(DEPLOYMENT) as fh:
        guide = fh.read()
    assert tls_lines in guide[guide.index("\n## TLS"):]


def test_plain_http_is_not_served_on_the_tls_port(tls_front):
    try:
        status = request(tls_front.base.replace("https:", "http:"), "GET", "/whoami",
                         timeout=3)[0]
    except (OSError, http.client.HTTPException):
        status = None  # HAProxy closes the connection
    assert status in (None, 400)  # nginx: 400 "The plain HTTP request was sent to HTTPS port"
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
    members = every_kind(client_base(tls_front, 0)) + every_kind(client_base(tls_front, 1))
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
    base = client_base(tls_front, 0)
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
        others = every_kind(client_base(tls_front, 1))  # polling over https, every generation
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
