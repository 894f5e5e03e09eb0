"""A private redis-server for the tests: own port on 127.0.0.1, no persistence, stopped by PID.

The suite never uses a Redis it did not start (the system one on 6379 is left alone)::

    def test_x(redis_server, redis_key):      # session-wide server, a key unique to the test
        url = redis_server.url

    def test_outage(private_redis):           # a server of this test's own, free to kill
        private_redis.kill()
        private_redis.start()                 # the same port again

Fixtures (tests/conftest.py): ``redis_server`` (session), ``private_redis`` (function),
``redis_key`` (a fresh ``key`` prefix such as ``geventio-test-3f2a...``).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any, Optional, Sequence

from .process import free_port

REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")


def redis_available() -> bool:
    """True when the redis-server binary is installed."""
    return os.access(REDIS_SERVER, os.X_OK) or shutil.which(REDIS_SERVER) is not None


def unique_key() -> str:
    """A Socket.IO cluster ``key`` no other test uses (channels are ``<key>#/#``...)."""
    return "geventio-test-" + uuid.uuid4().hex[:12]


class RedisServer:
    """One redis-server child on 127.0.0.1:``port``, without RDB or AOF persistence.

    ``start()`` waits until it answers PING; ``stop()`` (SIGTERM) and ``kill()`` (SIGKILL)
    end it by PID; ``start()`` again restarts it on the same port (for outage tests).
    """

    def __init__(self, port: Optional[int] = None, extra_args: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self._dir = tempfile.mkdtemp(prefix="geventio-redis-")
        self._log = os.path.join(self._dir, "redis.log")
        self.proc: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list:
        return [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self._dir,
                "--daemonize", "no", "--logfile", self._log, *self.extra_args]

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Start (or restart) the server on its port; return once it answers PING."""
        if self.running:
            return self
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited %s on port %d; log:\n%s"
                                     % (self.proc.returncode, self.port, self.log()))
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("redis-server on port %d never answered PING; log:\n%s"
                                     % (self.port, self.log()))
            time.sleep(0.02)
        return self

    def ping(self) -> bool:
        """True when something on the port answers a RESP PING with +PONG."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _end(self, signum: int, timeout: float) -> None:
        if not self.running:
            return
        os.kill(self.proc.pid, signum)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        """End the server gracefully (SIGTERM), by PID."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """End the server at once (SIGKILL), by PID: connections drop without a goodbye."""
        self._end(signal.SIGKILL, 5.0)

    def restart(self, timeout: float = 10.0) -> "RedisServer":
        """Kill the server and start it again on the same port (its data is gone)."""
        self.kill()
        return self.start(timeout)

    def client(self, **kwargs: Any) -> Any:
        """A redis-py client of this server (decode_responses off unless asked)."""
        import redis  # the test extra; only tests that talk to Redis need it
        return redis.Redis.from_url(self.url, **kwargs)

    def log(self) -> str:
        try:
            with open(self._log, encoding="utf-8", errors="replace") as fh:
                return fh.read()[-4000:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisCapture:
    """Every message PUBLISHed on channels matching ``pattern`` (PSUBSCRIBE: it is not
    counted by ``PUBSUB NUMSUB``, so it does not change node's ``serverCount()``)::

        with RedisCapture(redis_server.url, key + "*") as capture:
            ...publish...
            [(channel, body)] = capture.wait(1)
    """

    def __init__(self, url: str, pattern: str) -> None:
        import gevent  # the reader is a greenlet: the tests run monkey-patched
        import redis
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._pubsub.psubscribe(pattern)
        confirmation = self._pubsub.get_message(timeout=5)  # psubscribe's reply
        assert confirmation and confirmation["type"] == "psubscribe", confirmation
        self.messages: "list[tuple[str, bytes]]" = []
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        while True:
            msg = self._pubsub.get_message(timeout=1.0)
            if msg and msg["type"] == "pmessage":
                self.messages.append((msg["channel"].decode(), msg["data"]))

    def wait(self, count: int, timeout: float = 5.0) -> "list[tuple[str, bytes]]":
        """Block until ``count`` messages arrived; return (and forget) the first ``count``."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError("captured %d of %d messages: %r"
                                     % (len(self.messages), count, self.messages))
            time.sleep(0.01)
        taken, self.messages[:count] = self.messages[:count], []
        return taken

    def close(self) -> None:
        self._reader.kill(block=True, timeout=2)
        self._pubsub.close()
        self._client.close()

    def __enter__(self) -> "RedisCapture":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
