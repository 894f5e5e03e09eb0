"""Node socket.io 4.8 cluster members and node's redis-emitter, driven from the tests.

``NodeClusterServer`` runs tests/js/cluster/server.js: a node socket.io 4.8 server on
@socket.io/redis-adapter with its own socket.io-client 4.x clients; ``NodeEmitter`` runs
tests/js/cluster/emitter.js (@socket.io/redis-emitter). Both take one command a line on stdin
and answer by id (the protocol is in tests/js/cluster/lib.js); calls block the calling
greenlet only, so several may run at once. Values cross with bytes as ``{"$buffer": hex}``
and datetimes as ``{"$date": iso}`` both ways::

    with NodeClusterServer(redis_server.url, key, name="A") as a, \\
            NodeClusterServer(redis_server.url, key, name="B") as b:
        b.connect("c1")
        a.emit("hello", "world", b"\\x01")
        assert b.wait_for("c1", "hello")[-1] == ["hello", "world", b"\\x01"]

The ``node_cluster`` fixture (tests/conftest.py) starts them and stops them after the test.
"""
import datetime
import itertools
import json
import logging
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Union

import gevent
import gevent.event
import gevent.lock
from gevent import subprocess

from . import NODE_MODULES, REPO_ROOT

log = logging.getLogger(__name__)

CLUSTER_JS = os.path.join(REPO_ROOT, "tests", "js", "cluster")
Rooms = Union[None, str, Sequence[str]]


def cluster_peers_available() -> bool:
    """True when node and the cluster packages (npm ci) are installed."""
    return all(os.path.isdir(os.path.join(NODE_MODULES, *name.split("/")))
               for name in ("socket.io-v4", "@socket.io/redis-adapter",
                            "@socket.io/redis-emitter", "redis", "socket.io-client"))


def to_wire(value: Any) -> Any:
    """A Python value as the harness's JSON: bytes and datetimes tagged."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$buffer": bytes(value).hex()}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        iso = value.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")
        return {"$date": iso.replace("+00:00", "Z")}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """The harness's JSON as Python values: bytes and (UTC) datetimes untagged."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$buffer"), str):
            return bytes.fromhex(value["$buffer"])
        if len(value) == 1 and isinstance(value.get("$date"), str):
            return datetime.datetime.fromisoformat(value["$date"].replace("Z", "+00:00"))
        return {k: from_wire(v) for k, v in value.items()}
    return value


class NodeCommandError(AssertionError):
    """The node process answered a command with an error."""


class NodeProcess:
    """A node script speaking tests/js/cluster/lib.js's line protocol."""

    script = ""

    def __init__(self, config: Dict[str, Any], ready_timeout: float = 20.0) -> None:
        self.config = config
        self._ids = itertools.count(1)
        self._pending: Dict[int, gevent.event.AsyncResult] = {}
        self._write_lock = gevent.lock.Semaphore()
        self._err = tempfile.TemporaryFile()
        self.cmd = ["node", os.path.join(CLUSTER_JS, self.script), json.dumps(config)]
        self.proc = subprocess.Popen(self.cmd, cwd=REPO_ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._err)
        self._ready = gevent.event.AsyncResult()
        self._reader = gevent.spawn(self._read)
        try:
            self.info: Dict[str, Any] = self._ready.get(timeout=ready_timeout)
        except BaseException:
            self.close()
            raise AssertionError("%s was not ready in %s s; stderr:\n%s"
                                 % (self.script, ready_timeout, self.stderr())) from None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                log.debug("%s: %r", self.script, raw)
                continue
            if msg.get("ready"):
                self._ready.set(msg)
                continue
            waiter = self._pending.pop(msg.get("id"), None)
            if waiter is not None:
                waiter.set(msg)
        exited = NodeCommandError("%s exited; stderr:\n%s" % (self.script, self.stderr()))
        if not self._ready.ready():
            self._ready.set_exception(exited)
        for waiter in self._pending.values():
            waiter.set_exception(exited)
        self._pending.clear()

    def call(self, cmd: str, wait: float = 15.0, **fields: Any) -> Any:
        """Send one command; return its result (bytes/datetimes untagged) or raise
        NodeCommandError with node's error (or when no answer came within ``wait`` s)."""
        ident = next(self._ids)
        waiter = gevent.event.AsyncResult()
        self._pending[ident] = waiter
        line = json.dumps(dict(to_wire(fields), id=ident, cmd=cmd)).encode() + b"\n"
        with self._write_lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        try:
            msg = waiter.get(timeout=wait)
        except gevent.Timeout:
            self._pending.pop(ident, None)
            raise NodeCommandError("%s: no answer to %s in %s s; stderr:\n%s"
                                   % (self.script, cmd, wait, self.stderr())) from None
        if not msg.get("ok"):
            raise NodeCommandError("%s %s: %s" % (self.script, cmd, msg.get("error")))
        return from_wire(msg.get("result"))

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode("utf-8", "replace")[-4000:]

    def close(self) -> None:
        """Ask the process to quit; kill it (by PID) if it does not within 5 s."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.kill(block=True, timeout=2)
        self._err.close()

    def kill(self) -> None:
        """End the process at once (SIGKILL): a cluster member dying mid-request."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _targets(to: Rooms, skip: Rooms) -> Dict[str, Any]:
    fields: Dict[str, Any] = {}
    if to is not None:
        fields["to"] = [to] if isinstance(to, str) else list(to)
    if skip is not None:
        fields["except"] = [skip] if isinstance(skip, str) else list(skip)
    return fields


class NodeClusterServer(NodeProcess):
    """tests/js/cluster/server.js: node socket.io 4.8 + @socket.io/redis-adapter on ``url``
    under ``key`` (no adapter when ``url`` is None), listening on 127.0.0.1:``port``
    (``.port``; 0 = any). ``server_events`` maps server-side event names to the answer its
    handlers give (on every namespace). ``parents``: regex sources of parent namespaces
    (node's dynamic namespaces); ``cleanup_empty_child_namespaces``: node's option."""

    script = "server.js"

    def __init__(self, url: Optional[str], key: str = "socket.io", name: str = "node",
                 namespaces: Sequence[str] = ("/",), port: int = 0,
                 requests_timeout: float = 5.0,
                 server_events: Optional[Dict[str, Any]] = None,
                 parents: Sequence[str] = (),
                 cleanup_empty_child_namespaces: bool = False) -> None:
        super().__init__({"redisUrl": url, "key": key, "name": name, "port": port,
                          "namespaces": list(namespaces),
                          "requestsTimeout": int(requests_timeout * 1000),
                          "serverEvents": to_wire(server_events or {}),
                          "parents": list(parents),
                          "cleanupEmptyChildNamespaces": cleanup_empty_child_namespaces})
        self.name = name
        self.port: int = self.info["port"]
        self.uids: Dict[str, str] = self.info["uids"]
        self.url = "http://127.0.0.1:%d" % self.port

    # --- the server's own operations (node's io API) -----------------------------------
    def emit(self, event: str, *args: Any, to: Rooms = None, skip: Rooms = None,
             namespace: str = "/", volatile: bool = False, compress: Optional[bool] = None,
             local: bool = False) -> None:
        """``io.of(namespace).to(to).except(skip).emit(event, *args)``."""
        fields = _targets(to, skip)
        if compress is not None:
            fields["compress"] = compress
        self.call("emit", event=event, args=list(args), nsp=namespace, volatile=volatile,
                  local=local, **fields)

    def emit_with_ack(self, event: str, *args: Any, to: Rooms = None, skip: Rooms = None,
                      namespace: str = "/", timeout: float = 2.0) -> Dict[str, Any]:
        """``io.timeout(ms).emit(event, *args, cb)``: ``{"error", "responses"}``."""
        return self.call("emitWithAck", wait=timeout + 10, event=event, args=list(args),
                         nsp=namespace, timeout=int(timeout * 1000), **_targets(to, skip))

    def server_side_emit(self, event: str, *args: Any, namespace: str = "/",
                         ack: bool = False) -> Any:
        """``io.serverSideEmit``; with ``ack``: ``{"error", "responses"}`` of the others."""
        return self.call("serverSideEmit", event=event, args=list(args), nsp=namespace, ack=ack)

    def fetch_sockets(self, to: Rooms = None, skip: Rooms = None,
                      namespace: str = "/") -> List[Dict[str, Any]]:
        """``fetchSockets()``: ``[{"id", "rooms", "data", "handshake"}]`` cluster-wide."""
        return self.call("fetchSockets", nsp=namespace, **_targets(to, skip))

    def sockets_join(self, rooms: Rooms, to: Rooms = None, skip: Rooms = None,
                     namespace: str = "/") -> None:
        self.call("socketsJoin", rooms=rooms, nsp=namespace, **_targets(to, skip))

    def sockets_leave(self, rooms: Rooms, to: Rooms = None, skip: Rooms = None,
                      namespace: str = "/") -> None:
        self.call("socketsLeave", rooms=rooms, nsp=namespace, **_targets(to, skip))

    def disconnect_sockets(self, close: bool = False, to: Rooms = None, skip: Rooms = None,
                           namespace: str = "/") -> None:
        self.call("disconnectSockets", close=close, nsp=namespace, **_targets(to, skip))

    def all_rooms(self, namespace: str = "/") -> List[str]:
        """``adapter.allRooms()`` (sorted)."""
        return self.call("allRooms", nsp=namespace)

    def server_count(self, namespace: str = "/") -> int:
        return self.call("serverCount", nsp=namespace)

    def namespaces(self) -> List[str]:
        """The namespaces the server has now, children of parent namespaces included."""
        return self.call("namespaces")

    def local_rooms(self, namespace: str = "/") -> Dict[str, List[str]]:
        """This server's own rooms: ``{room: [socket ids]}``."""
        return self.call("localRooms", nsp=namespace)

    def handle(self, event: str, reply: Any = None, namespace: str = "/") -> None:
        """Answer other servers' ``serverSideEmit(event)`` with ``reply`` (and record it)."""
        self.call("handle", event=event, reply=reply, nsp=namespace)

    def server_events(self, clear: bool = False) -> List[Dict[str, Any]]:
        """The server-side events received so far: ``[{"nsp", "event", "args"}]``."""
        return self.call("serverEvents", clear=clear)

    def wait_server_event(self, event: str, count: int = 1,
                          timeout: float = 5.0) -> List[Dict[str, Any]]:
        """Poll until ``count`` server-side events named ``event`` arrived; return them."""
        with gevent.Timeout(timeout, NodeCommandError(
                "%s: fewer than %d server-side %r events" % (self.name, count, event))):
            while True:
                hits = [e for e in self.server_events() if e["event"] == event]
                if len(hits) >= count:
                    return hits
                gevent.sleep(0.02)

    # --- its socket.io-client 4.x clients ------------------------------------------------
    def connect(self, name: str, namespace: str = "/", url: Optional[str] = None,
                auth: Optional[Dict[str, Any]] = None, ack: Any = None,
                transports: Sequence[str] = ("websocket",)) -> str:
        """Connect a client named ``name`` (to this server unless ``url``); return its id.
        It answers acks with ``ack`` (default ``"<name>-ack"``); ``auth["data"]`` becomes
        its server-side ``socket.data`` on a node server."""
        fields: Dict[str, Any] = {"name": name, "nsp": namespace, "auth": auth or {},
                                  "transports": list(transports)}
        if url is not None:
            fields["url"] = url
        if ack is not None:
            fields["ack"] = ack
        return self.call("connect", **fields)["id"]

    def client_join(self, name: str, room: str) -> None:
        """The client asks its (node) server to join ``room``; returns after the ack."""
        self.call("clientJoin", name=name, room=room)

    def client_leave(self, name: str, room: str) -> None:
        self.call("clientLeave", name=name, room=room)

    def client_emit(self, name: str, event: str, *args: Any, ack: bool = False) -> Any:
        return self.call("clientEmit", name=name, event=event, args=list(args), ack=ack)

    def received(self, name: str, clear: bool = False) -> List[List[Any]]:
        """What the client got: ``[[event, *args], ...]``; ``["$disconnect", reason]``."""
        return self.call("received", name=name, clear=clear)

    def wait_for(self, name: str, event: str, count: int = 1,
                 timeout: float = 5.0) -> List[List[Any]]:
        """Block until the client got ``count`` ``event``s; return its whole log (fails
        with the log after ``timeout`` seconds)."""
        return self.call("waitFor", wait=timeout + 5, name=name, event=event, count=count,
                         timeout=int(timeout * 1000))

    def client_state(self, name: str) -> Dict[str, Any]:
        """``{"connected", "id"}``."""
        return self.call("clientState", name=name)

    def client_close(self, name: str) -> None:
        self.call("clientClose", name=name)


class NodeEmitter(NodeProcess):
    """tests/js/cluster/emitter.js: node's @socket.io/redis-emitter on ``url`` under ``key``.
    Each method returns once its PUBLISH was answered by Redis."""

    script = "emitter.js"

    def __init__(self, url: str, key: str = "socket.io") -> None:
        super().__init__({"redisUrl": url, "key": key})

    def emit(self, event: str, *args: Any, to: Rooms = None, skip: Rooms = None,
             namespace: str = "/", volatile: bool = False,
             compress: Optional[bool] = None) -> None:
        fields = _targets(to, skip)
        if compress is not None:
            fields["compress"] = compress
        self.call("emit", event=event, args=list(args), nsp=namespace, volatile=volatile,
                  **fields)

    def sockets_join(self, rooms: Rooms, to: Rooms = None, skip: Rooms = None,
                     namespace: str = "/") -> None:
        self.call("socketsJoin", rooms=rooms, nsp=namespace, **_targets(to, skip))

    def sockets_leave(self, rooms: Rooms, to: Rooms = None, skip: Rooms = None,
                      namespace: str = "/") -> None:
        self.call("socketsLeave", rooms=rooms, nsp=namespace, **_targets(to, skip))

    def disconnect_sockets(self, close: bool = False, to: Rooms = None, skip: Rooms = None,
                           namespace: str = "/") -> None:
        self.call("disconnectSockets", close=close, nsp=namespace, **_targets(to, skip))

    def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        self.call("serverSideEmit", event=event, args=list(args), nsp=namespace)


class NodeCluster:
    """Starts node cluster members and emitters for one test and stops them all after it
    (the ``node_cluster`` fixture)."""

    def __init__(self) -> None:
        self.processes: List[NodeProcess] = []

    def server(self, url: Optional[str], key: str = "socket.io",
               **kwargs: Any) -> NodeClusterServer:
        """A started ``NodeClusterServer`` (same arguments)."""
        server = NodeClusterServer(url, key, **kwargs)
        self.processes.append(server)
        return server

    def emitter(self, url: str, key: str = "socket.io") -> NodeEmitter:
        """A started ``NodeEmitter``."""
        emitter = NodeEmitter(url, key)
        self.processes.append(emitter)
        return emitter

    def close(self) -> None:
        for proc in reversed(self.processes):
            proc.close()
        self.processes.clear()
