"""A load balancer (HAProxy, nginx) with a documented config from docs/deploy/, in front of
three geventio-serve processes running tests/apps/sticky_app.py (tests/test_haproxy.py,
tests/test_nginx.py). The config is the file with only its ports changed."""
import os
import re
import shutil
import signal
import time

from . import REPO_ROOT
from .process import Child, free_port, geventio_serve, wait_for_page
from .wire import request

DEPLOY = os.path.join(REPO_ROOT, "docs", "deploy")
DEPLOYMENT = os.path.join(REPO_ROOT, "docs", "DEPLOYMENT.md")
APP = os.path.join(REPO_ROOT, "tests", "apps", "sticky_app.py") + ":application"


def _installed(name):
    return shutil.which(name) or ("/usr/sbin/" + name if os.path.exists("/usr/sbin/" + name)
                                  else None)


HAPROXY = _installed("haproxy")
NGINX = _installed("nginx")

# Client addresses in six different /24 networks (any 127.x.y.z is the loopback on Linux):
# six keys for nginx's ip_hash, which hashes an IPv4 address's first three octets.
NETWORKS = ["127.0.%d.1" % n for n in range(1, 7)]


def replace_once(pattern, replacement, text):
    text, found = re.subn(pattern, replacement, text)
    assert found == 1, pattern
    return text


def server_ports(config, backs):
    """``config`` with the documented servers 127.0.0.1:8001-8003 moved to ``backs``."""
    for n, port in enumerate(backs, 1):
        config = replace_once(r"(?m)^(\s*server (?:g%d )?)127\.0\.0\.1:800%d\b" % (n, n),
                              r"\g<1>127.0.0.1:%d" % port, config)
    return config


def haproxy_ports(config, front, backs):
    """docs/deploy/haproxy.cfg with its ports replaced (and nothing else)."""
    config = replace_once(r"(?m)^(\s*bind )127\.0\.0\.1:8000$", r"\g<1>127.0.0.1:%d" % front,
                          config)
    return server_ports(config, backs)


def nginx_ports(config, front, backs):
    """docs/deploy/nginx.conf with its ports replaced (and nothing else)."""
    config = replace_once(r"(?m)^(\s*listen )127\.0\.0\.1:8000;$",
                          r"\g<1>127.0.0.1:%d;" % front, config)
    return server_ports(config, backs)


def haproxy(config_path):
    return [HAPROXY, "-f", config_path]


def nginx(config_path):
    """nginx in the foreground (the config says ``daemon off``), its pid file and temporary
    files under the config's directory."""
    return [NGINX, "-p", os.path.dirname(config_path), "-e", "stderr", "-c", config_path]


class Balanced:
    """Three geventio-serve processes and, in front, the command ``proxy(config_path)`` runs
    with ``templated(config text, front port, server ports)`` written to
    ``tmp_path/<name>``. ``base`` is the front's URL (``scheme`` http or https)."""

    def __init__(self, tmp_path, name, templated, proxy, extra=(), scheme="http",
                 wait_for_spread=True):
        self.front = free_port()
        self.base = "%s://127.0.0.1:%d" % (scheme, self.front)
        ports = [free_port() for _ in range(3)]
        self.direct = ["http://127.0.0.1:%d" % port for port in ports]
        env = dict(os.environ, GEVENTIO_TEST_COOKIE="io", GEVENTIO_TEST_RECORDS=str(tmp_path))
        self.servers = [Child(geventio_serve() + [APP, "--port", str(port), *extra], env=env)
                        for port in ports]
        self.proxy = None
        try:
            for child, direct in zip(self.servers, self.direct):
                wait_for_page(child, direct, "/whoami")
            self.pids = {child.pid for child in self.servers}
            cfg = tmp_path / name
            with open(os.path.join(DEPLOY, name)) as fh:
                cfg.write_text(templated(fh.read(), self.front, ports))
            self.proxy = Child(proxy(str(cfg)), cwd=str(tmp_path))
            wait_for_page(self.proxy, self.base, "/whoami")
            if wait_for_spread:  # every server up in the balancer's eyes
                deadline = time.monotonic() + 15
                while len({self.whoami() for _ in range(6)}) < 3:
                    assert time.monotonic() < deadline, self.proxy.output()
                    time.sleep(0.2)
        except BaseException:
            self.close()
            raise

    def whoami(self):
        return int(request(self.base, "GET", "/whoami")[2])

    def close(self):
        if self.proxy is not None:
            # SIGTERM, not close()'s SIGKILL: nginx's workers outlive a killed master (still
            # listening), so the master must stop them.
            if self.proxy.proc.poll() is None:
                self.proxy.signal(signal.SIGTERM)
                self.proxy.wait(10)
            self.proxy.close()
        for child in self.servers:
            child.close()


def shown_in_guide(name):
    """True when docs/DEPLOYMENT.md shows docs/deploy/<name> whole."""
    with open(os.path.join(DEPLOY, name)) as fh:
        config = fh.read()
    with open(DEPLOYMENT) as fh:
        return config.strip() in fh.read()
