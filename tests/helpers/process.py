"""Run a server as a child process (geventio-serve, an example script) and talk to it."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import REPO_ROOT
from .wire import request


def geventio_serve():
    """The command that runs ``geventio-serve``: the installed console script, or the
    module behind it when the package is not installed with its scripts."""
    script = shutil.which("geventio-serve")
    if script:
        return [script]
    return [sys.executable, "-m", "geventio.cli"]


def free_port():
    """A TCP port nothing listens on right now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """A child process whose stdout and stderr go to temporary files."""

    def __init__(self, cmd, cwd=REPO_ROOT, env=None):
        self.cmd = cmd
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        """(stdout, stderr) so far, as text."""
        texts = []
        for fh in (self._out, self._err):
            fh.seek(0)
            texts.append(fh.read().decode("utf-8", "replace"))
        return tuple(texts)

    def wait(self, timeout):
        """Wait for the exit; return its code (killing the process after ``timeout``)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("%s did not exit within %s s; output: %r"
                                 % (self.cmd, timeout, self.output())) from None

    def signal(self, signum=signal.SIGTERM):
        os.kill(self.proc.pid, signum)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._out.close()
        self._err.close()


def wait_for_page(child, base, path, timeout=20.0):
    """Poll ``base + path`` until it answers 200; return the body. Fails at once if the
    child exits first."""
    deadline = time.monotonic() + timeout
    while True:
        code = child.proc.poll()
        if code is not None:
            raise AssertionError("%s exited %s before serving; output: %r"
                                 % (child.cmd, code, child.output()))
        try:
            status, _, body = request(base, "GET", path() if callable(path) else path,
                                      timeout=5)
        except OSError:
            status, body = None, b""
        if status == 200:
            return body
        if time.monotonic() > deadline:
            raise AssertionError("%s never answered 200 at %s (last status %s); output: %r"
                                 % (child.cmd, base, status, child.output()))
        time.sleep(0.1)


def wait_for_handshake(child, base, resource="socket.io", timeout=20.0):
    """Poll ``base`` until it answers a socket.io 0.6 xhr-polling handshake; return the
    response body (the session id frame first)."""
    return wait_for_page(child, base, lambda: "/%s/xhr-polling//%d"
                         % (resource, int(time.time() * 1000)), timeout)


@contextlib.contextmanager
def running(cmd, port, cwd=REPO_ROOT, env=None):
    """Start ``cmd``, wait until it serves socket.io on ``port``; yield (child, base URL,
    handshake body). The child is killed on the way out if it still runs."""
    child = Child(cmd, cwd=cwd, env=env)
    try:
        base = "http://127.0.0.1:%d" % port
        body = wait_for_handshake(child, base)
        yield child, base, body
    finally:
        child.close()
