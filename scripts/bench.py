#!/usr/bin/env python3
"""geventio vs python-socketio 5.x (gevent mode): one command, five cases, side by side.

    python scripts/bench.py              # full run (~10 s measured per case and server, < 5 min)
    python scripts/bench.py --quick      # smoke run (~2 s per case, < 1 min)
    python scripts/bench.py --rounds 3   # repeat every case, report the median (and the spread)
    python scripts/bench.py --cases ws_echo,connect --json out.json
    python scripts/bench.py --profile build/bench-prof   # py-spy both servers, per case
    python scripts/bench/pyspy_top.py build/bench-prof/ws_echo-geventio.txt   # hot spots
    python scripts/bench.py --cases idle_mem --memprofile build/bench-prof   # tracemalloc
    python scripts/bench.py --workers 2 --cases connect,ws_echo,poll_echo  # see bench/workers.py
    python scripts/bench.py --cases deflate   # permessage-deflate on/off, see bench/deflate.py
    python scripts/bench.py --cases ws_echo,poll_echo --message-size 2048 --node
                                         # 2 KB echo messages; node socket.io as a third server

Each server runs in its own process (scripts/bench/server.py) pinned with taskset to one
core; the Node load generator (scripts/bench/load.js, raw Engine.IO v4 / Socket.IO v5 over
its own lean WebSocket and HTTP/1.1 keep-alive clients on net.Socket, no npm package) runs
pinned to the other core. For every case the two servers
run one after the other with the same settings and the same load; the order alternates from
case to case (and round to round). Everything listens and connects on 127.0.0.x only and
every process is stopped by its PID at the end, on Ctrl-C and on errors.

Cases and targets (geventio / python-socketio):

  ws_echo     websocket echo, 50 clients, each emitting and waiting for the ack   >= 2x
  poll_echo   the same over HTTP long-polling only (transports=['polling'])        >= 3x
  broadcast   server emit to all of 1000 clients, deliveries/s at the clients     >= 1.5x
              (one client triggers; at most 8 broadcasts in flight, i.e. sent but not
              yet received by all 1000 clients)
  idle_mem    RSS growth (VmRSS) per idle websocket connection, 5000 clients     <= 0.5x
  connect     Socket.IO connect handshakes/s over websocket (connect, disconnect) >= 1.5x
  cluster     (--cases cluster; not in the default set) two server processes, one per
              core, on one private redis-server; 1000 websocket clients split between
              them; one client's broadcasts reach all: deliveries/s and latency (request to
              last delivery), geventio (RedisAdapter) vs python-socketio (RedisManager)
              >= 1.5x and vs node socket.io 4.8 + @socket.io/redis-adapter >= 1x
  deflate     (--cases deflate; not in the default set) websocket echo and fanout with
              2 KB compressible messages and clients offering permessage-deflate:
              geventio off / on / no context takeover, node socket.io off / on; rate,
              server CPU and RSS, and the on/off ratios (scripts/bench/deflate.py)

``--message-size N``: the echo cases send N characters of JSON-like text (the deflate case's
messages: quotes and newlines, escaped in the JSON on the wire) instead of a 24-byte string.
``--node``: node socket.io 4.8 (scripts/bench/node_server.js: the same ping and buffer
settings, no compression) runs every case too, in a third column. Every line and the table
show the server's CPU time per message (``us/msg``: its CPU share / the rate), the cost to
compare when a server is not saturated.

Next to each number: the load generator's CPU share (its process CPU time / wall time over
the measured window; it must stay well below 100% of its core for the number to be the
server's), the server's CPU share (near 100% means the server was the bottleneck), and how
much of the benchmark cores other processes took meanwhile ("others": server's core / load
generator's core; a measurement where they took more than --max-other of the server's core,
or left the load generator less than 10% of its core, is flagged as noisy: run again when
the machine is quiet, or pass --retry-noisy).

Needs: Python 3.11 with gevent, python-socketio 5.x, python-engineio, gevent-websocket
(`pip install -e '.[bench]'`), Node.js >= 18, taskset (util-linux), and
2 or more cores. Missing Python/Node packages are installed on first use (--no-install to
refuse). py-spy for --profile.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, "scripts", "bench")
SERVER = os.path.join(BENCH_DIR, "server.py")
LOADGEN = os.path.join(BENCH_DIR, "load.js")
IMPLS = ("geventio", "python-socketio")
#: ``--node``: node socket.io 4.8 (scripts/bench/node_server.js) as a third server
ALL_IMPLS = IMPLS + ("node",)
#: the cases whose message ``--message-size`` sets
ECHO_CASES = ("ws_echo", "poll_echo")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Case:
    key: str
    title: str
    unit: str
    target: float
    higher_is_better: bool = True
    transports: str = "polling,websocket"
    load: Dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("ws_echo", "websocket echo, 50 clients", "msg/s", 2.0,
         load=dict(clients=50)),
    Case("poll_echo", "polling echo, 50 clients", "msg/s", 3.0, transports="polling",
         load=dict(clients=50)),
    Case("broadcast", "broadcast to 1000 clients", "deliv/s", 1.5,
         load=dict(clients=1000, concurrency=100, window=8)),
    Case("idle_mem", "idle memory, {n} ws conns", "KiB/conn", 0.5, higher_is_better=False,
         transports="websocket", load=dict(clients=5000, concurrency=100)),
    Case("connect", "connects/s over websocket", "conn/s", 1.5,
         load=dict(concurrency=50)),
]


class BenchError(Exception):
    pass


# -- process handling -----------------------------------------------------------------------

_children: List[subprocess.Popen] = []


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def spawn(cmd: List[str], cpu: int, **kw: Any) -> subprocess.Popen:
    """Start ``cmd`` pinned to ``cpu``, in its own session (Ctrl-C reaches only us; we stop
    it by PID), with the open-files limit raised to the hard limit."""
    proc = subprocess.Popen(["taskset", "-c", str(cpu)] + cmd, preexec_fn=_raise_nofile,
                            start_new_session=True, cwd=ROOT, **kw)
    _children.append(proc)
    return proc


def stop(proc: Optional[subprocess.Popen], grace: float = 3.0) -> None:
    """Stop one child by its PID: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            pass
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    if proc in _children:
        _children.remove(proc)


def stop_all() -> None:
    for proc in list(_children):
        stop(proc)


class Lines:
    """A child's stdout, line by line, with a timeout (read by a thread)."""

    def __init__(self, stream) -> None:
        self.q: "queue.Queue[Optional[str]]" = queue.Queue()
        t = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        t.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def get(self, deadline: float, what: str) -> Optional[str]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError("timed out waiting for %s" % what)
        try:
            return self.q.get(timeout=left)
        except queue.Empty:
            raise BenchError("timed out waiting for %s" % what) from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError("no VmRSS for pid %d" % pid)


def cpu_seconds(pid: int) -> float:
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def core_times(cpus: List[int]) -> Dict[int, tuple]:
    """(busy, total) clock ticks per core from /proc/stat; busy = user + nice + system +
    steal (irq and softirq are left out: on loopback they are mostly our own traffic)."""
    out = {}
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *vals = line.split()
                n = int(name[3:])
                if n in cpus:
                    v = [int(x) for x in vals[:8]]
                    out[n] = (v[0] + v[1] + v[2] + v[7], sum(v))
    return out


def foreign_share(before: Dict[int, tuple], after: Dict[int, tuple], cpu: int,
                  own: Optional[float]) -> Optional[float]:
    """How much of ``cpu`` something other than our process (``own`` share) used."""
    if cpu not in before or cpu not in after or own is None:
        return None
    busy = after[cpu][0] - before[cpu][0]
    total = after[cpu][1] - before[cpu][1]
    if total <= 0:
        return None
    return max(0.0, busy / total - own)


# -- one measurement -------------------------------------------------------------------------

def run_one(case: Case, impl: str, opts: argparse.Namespace, cpus: List[int],
            log_dir: str) -> Dict[str, Any]:
    server_cpu, load_cpu = cpus
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    err_path = os.path.join(log_dir, "%s-%s.server.log" % (case.key, impl))
    server = load = profiler = None
    with open(err_path, "w") as server_err:
        try:
            if impl == "node":
                server_cmd = ["node", NODE_SERVER, json.dumps({"port": port})]
            else:
                server_cmd = [sys.executable, SERVER, "--impl", impl, "--port", str(port),
                              "--transports", case.transports]
            memprofile = None
            if opts.memprofile and case.key == "idle_mem":
                os.makedirs(opts.memprofile, exist_ok=True)
                memprofile = os.path.join(os.path.abspath(opts.memprofile),
                                          "idle_mem-%s.txt" % impl)
                server_cmd += ["--tracemalloc", memprofile]
            server = spawn(server_cmd, server_cpu, env=env,
                           stdout=subprocess.PIPE, stderr=server_err, text=True)
            srv_lines = Lines(server.stdout)
            line = srv_lines.get(time.monotonic() + 30, "the %s server to start" % impl)
            if not line or not line.startswith("READY"):
                raise BenchError("%s server did not start (see %s)" % (impl, err_path))
            pid = server.pid  # taskset execs the interpreter: same PID

            load_cfg = dict(case=case.key, port=port, warmup=opts.warmup,
                            duration=opts.duration, timeout=opts.duration + 150)
            load_cfg.update(case.load)
            if case.key == "idle_mem":
                load_cfg["clients"] = opts.idle_clients
            if opts.message_size and case.key in ECHO_CASES:
                load_cfg["payload"] = echo_payload(opts.message_size)
            load = spawn(["node", LOADGEN, json.dumps(load_cfg)], load_cpu,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            lines = Lines(load.stdout)
            deadline = time.monotonic() + opts.duration + 160
            out: Dict[str, Any] = {}
            cpu0 = t0 = None
            while True:
                line = lines.get(deadline, "the load generator (%s, %s)" % (case.key, impl))
                if line is None:
                    raise BenchError("load generator exited without a result (%s, %s); "
                                     "server log: %s" % (case.key, impl, err_path))
                if line == "MEASURE_START":
                    cores0 = core_times(cpus)
                    cpu0, t0 = cpu_seconds(pid), time.monotonic()
                    if opts.profile and impl != "node":
                        profiler = start_profiler(pid, case, impl, opts, load_cpu)
                elif line == "MEASURE_END":
                    if cpu0 is not None:
                        out["server_cpu"] = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
                        cores1 = core_times(cpus)
                        out["other_server_core"] = foreign_share(cores0, cores1, server_cpu,
                                                                 out["server_cpu"])
                        out["cores"] = (cores0, cores1)
                    if profiler is not None and profiler.poll() is None:
                        os.kill(profiler.pid, signal.SIGINT)  # py-spy writes its output
                        try:
                            profiler.wait(20)
                        except subprocess.TimeoutExpired:
                            pass
                elif line == "WARM":
                    time.sleep(opts.settle)
                    if memprofile:
                        os.kill(pid, signal.SIGUSR1)  # baseline snapshot
                        time.sleep(2)
                    out["rss_before_kib"] = rss_kib(pid)
                    cpu0, t0 = cpu_seconds(pid), time.monotonic()
                    load.stdin.write("go\n")
                    load.stdin.flush()
                elif line.startswith("CONNECTED"):
                    out["server_cpu"] = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
                    time.sleep(opts.settle)
                    out["rss_after_kib"] = rss_kib(pid)
                    n = int(line.split()[1])
                    out["rate"] = (out["rss_after_kib"] - out["rss_before_kib"]) / n
                    if memprofile:
                        os.kill(pid, signal.SIGUSR1)
                        line = srv_lines.get(time.monotonic() + 120, "the memory profile")
                        print("  memory profile: %s" % memprofile)
                    load.stdin.write("done\n")
                    load.stdin.flush()
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
                    break
                elif line.startswith("ERROR "):
                    raise BenchError("load generator (%s, %s): %s; server log: %s"
                                     % (case.key, impl, line[6:], err_path))
            if server.poll() is not None:
                raise BenchError("%s server died during %s (see %s)" % (impl, case.key, err_path))
            if case.key != "idle_mem":
                out["rate"] = result["rate"]
            out["load_cpu"] = result.get("cpu_share")
            if "cores" in out:
                cores0, cores1 = out.pop("cores")
                out["other_load_core"] = foreign_share(cores0, cores1, load_cpu, out["load_cpu"])
                if noise(out) > opts.max_other:
                    out["warning"] = ("noisy: other processes took %s of the server's core, "
                                      "%s of the load generator's"
                                      % (pct(out["other_server_core"]),
                                         pct(out["other_load_core"])))
            out["detail"] = result
            if result.get("bad"):
                out["warning"] = "%d replies out of order or malformed" % result["bad"]
            if result.get("errors"):
                out["warning"] = "%d connection attempts failed" % result["errors"]
            return out
        finally:
            stop(profiler)
            stop(load)
            stop(server)


def start_profiler(pid: int, case: Case, impl: str, opts: argparse.Namespace, cpu: int):
    """py-spy the server for the measured window (on the load generator's core)."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("  (py-spy not found: pip install py-spy; no profile)", file=sys.stderr)
        return None
    os.makedirs(opts.profile, exist_ok=True)
    base = os.path.join(opts.profile, "%s-%s" % (case.key, impl))
    with open(base + ".log", "w") as log:
        return spawn([py_spy, "record", "--pid", str(pid), "--duration",
                      str(max(1, int(opts.duration))), "--rate", "200", "--format", "raw",
                      "--output", base + ".txt", "--nonblocking"],
                     cpu, stdout=log, stderr=subprocess.STDOUT)


# -- the run ---------------------------------------------------------------------------------

def check_environment(opts: argparse.Namespace) -> List[int]:
    for tool in ("taskset", "node"):
        if shutil.which(tool) is None:
            raise BenchError("%s is needed (taskset: util-linux; node: Node.js >= 18)" % tool)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise BenchError("needs 2 cores (server and load generator each on its own)")
    missing = []
    for module in ("gevent", "geventwebsocket", "socketio", "engineio"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        if opts.no_install:
            raise BenchError("missing Python packages (%s): pip install -e '.[bench]'"
                             % ", ".join(missing))
        print("installing the bench extra (missing: %s)" % ", ".join(missing), file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "-e",
                               ROOT + "[bench]"])
    from importlib.metadata import version
    if not version("python-socketio").startswith("5."):
        raise BenchError("python-socketio 5.x is needed, found %s" % version("python-socketio"))
    # server on the last allowed core, load generator on the first
    return [cpus[-1], cpus[0]]


def python_socketio_version() -> str:
    try:
        from importlib.metadata import version
        return "python-socketio %s, python-engineio %s, gevent-websocket %s, gevent %s" % (
            version("python-socketio"), version("python-engineio"),
            version("gevent-websocket"), version("gevent"))
    except Exception:  # pragma: no cover
        return "python-socketio ?"


def noise(r: Dict[str, Any]) -> float:
    """How much other processes disturbed a measurement: their share of the server's core,
    plus how far the load generator's core was pushed past 90% busy."""
    server = r.get("other_server_core") or 0.0
    load_core = (r.get("load_cpu") or 0.0) + (r.get("other_load_core") or 0.0)
    return server + max(0.0, load_core - 0.9)


def git_revision() -> str:
    try:
        return subprocess.check_output(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                       text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "-"
    if unit == "KiB/conn":
        return "%.1f" % value
    return "%.0f" % value


def pct(value: Optional[float]) -> str:
    return "-" if value is None else "%d%%" % round(100 * value)


def us_per_message(r: Dict[str, Any], unit: str) -> Optional[float]:
    """The server's CPU time per message (or delivery, or connect) in one measurement."""
    if unit == "KiB/conn" or not r.get("rate") or r.get("server_cpu") is None:
        return None
    return r["server_cpu"] * 1e6 / r["rate"]


def echo_payload(size: int) -> str:
    """``--message-size``: ``size`` characters of JSON-like text (quotes and newlines, escaped
    in the JSON on the wire), the same text as the deflate case's messages."""
    sys.path.insert(0, BENCH_DIR)
    from server import compressible_payload
    return compressible_payload(size)


def summarize(case: Case, runs: Dict[str, List[Dict[str, Any]]],
              opts: argparse.Namespace) -> Dict[str, Any]:
    row: Dict[str, Any] = {"case": case.key, "unit": case.unit,
                           "title": case.title.format(n=opts.idle_clients),
                           "target": case.target, "higher_is_better": case.higher_is_better}
    for impl in ALL_IMPLS:
        rs = runs.get(impl, [])
        rates = [r["rate"] for r in rs]
        costs = [c for c in (us_per_message(r, case.unit) for r in rs) if c is not None]
        row[impl] = {
            "rate": statistics.median(rates) if rates else None,
            "all": rates,
            "us_per_msg": statistics.median(costs) if costs else None,
            "load_cpu": max((r["load_cpu"] for r in rs if r.get("load_cpu") is not None),
                            default=None),
            "server_cpu": statistics.median(
                [r["server_cpu"] for r in rs if r.get("server_cpu") is not None] or [0]
            ) if rs else None,
            "other": max((r.get("other_server_core") or 0.0 for r in rs
                          if "other_server_core" in r), default=None),
            "runs": rs,
        }
    row["round_ratios"] = [a / b for a, b in zip(row["geventio"]["all"],
                                                 row["python-socketio"]["all"]) if b]
    g, p = row["geventio"]["rate"], row["python-socketio"]["rate"]
    ratio = (g / p) if g is not None and p else None
    row["ratio"] = ratio
    if ratio is None or (opts.message_size and case.key in ECHO_CASES):
        row["verdict"] = "n/a"  # (the targets are for the default, short messages)
    elif case.higher_is_better:
        row["verdict"] = "PASS" if ratio >= case.target else "FAIL"
    else:
        row["verdict"] = "PASS" if ratio <= case.target else "FAIL"
    return row


def _us(value: Optional[float]) -> str:
    return "-" if value is None else "%.1f" % value


def print_table(rows: List[Dict[str, Any]], opts: argparse.Namespace) -> None:
    node = any(r["node"]["rate"] is not None for r in rows)
    head = ["case", "unit", "geventio", "python-socketio", "ratio", "target", ""]
    if node:
        head += ["node", "vs node"]
    head += ["server us/msg g/p" + ("/n" if node else ""), "load CPU g/p", "server CPU g/p",
             "others g/p"]  # others: on the server's core
    table = [tuple(head)]
    for r in rows:
        g, p, n = r["geventio"], r["python-socketio"], r["node"]
        target = ("%s %.1fx" % (">=" if r["higher_is_better"] else "<=", r["target"]))
        line = [r["title"], r["unit"], fmt(g["rate"], r["unit"]), fmt(p["rate"], r["unit"]),
                "-" if r["ratio"] is None else "%.2fx" % r["ratio"], target, r["verdict"]]
        costs = [g, p]
        if node:
            line += [fmt(n["rate"], r["unit"]),
                     "%.2fx" % (g["rate"] / n["rate"]) if g["rate"] and n["rate"] else "-"]
            costs.append(n)
        line += [" / ".join(_us(x["us_per_msg"]) for x in costs),
                 "%s / %s" % (pct(g["load_cpu"]), pct(p["load_cpu"])),
                 "%s / %s" % (pct(g["server_cpu"]), pct(p["server_cpu"])),
                 "%s / %s" % (pct(g["other"]), pct(p["other"]))]
        table.append(tuple(line))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    right = {2, 3, 4} | ({7, 8} if node else set())
    for k, row in enumerate(table):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    if opts.rounds > 1:
        print("\nspread over %d rounds (each value, in run order; the ratio of each round's "
              "back-to-back pair last):" % opts.rounds)
        for r in rows:
            for impl in ALL_IMPLS:
                if r[impl]["all"]:
                    print("  %-30s %-16s %s" % (r["title"], impl, ", ".join(
                        fmt(v, r["unit"]) for v in r[impl]["all"])))
            if r.get("round_ratios"):
                print("  %-30s %-16s %s" % (r["title"], "ratio",
                                             ", ".join("%.2fx" % x for x in r["round_ratios"])))


# -- the cluster scenario --------------------------------------------------------------------

CLUSTER_IMPLS = ("geventio", "python-socketio", "node")
NODE_SERVER = os.path.join(BENCH_DIR, "node_server.js")
REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
CLUSTER_CLIENTS = 1000


def start_redis(log_dir: str) -> "tuple[subprocess.Popen, str]":
    """A private redis-server on a free 127.0.0.1 port (no persistence): (process, URL)."""
    if not os.access(REDIS_SERVER, os.X_OK):
        raise BenchError("the cluster scenario needs %s (Debian's redis-server)" % REDIS_SERVER)
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", log_dir,
                             "--logfile", os.path.join(log_dir, "redis.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            start_new_session=True)
    _children.append(proc)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, "redis://127.0.0.1:%d/0" % port
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError("redis-server did not start (see %s)" % log_dir)
        time.sleep(0.05)


def run_cluster(impl: str, opts: argparse.Namespace, cpus: List[int],
                log_dir: str) -> Dict[str, Any]:
    """Two ``impl`` servers (one per core) on one private Redis; 1000 WebSocket clients
    split between them; one client asks its server to broadcast to all: deliveries/s at the
    clients and the latency from a request to its last delivery."""
    redis, url = start_redis(log_dir)
    key = "bench-%d" % os.getpid()
    ports = [free_port(), free_port()]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    servers: List[subprocess.Popen] = []
    load = None
    try:
        for n, port in enumerate(ports):
            err = open(os.path.join(log_dir, "cluster-%s-%d.server.log" % (impl, n)), "w")
            if impl == "node":
                cmd = ["node", NODE_SERVER, json.dumps({"port": port, "redis": url,
                                                        "key": key})]
            else:
                cmd = [sys.executable, SERVER, "--impl", impl, "--port", str(port),
                       "--transports", "websocket", "--redis", url, "--key", key]
            server = spawn(cmd, cpus[n], env=env, stdout=subprocess.PIPE, stderr=err,
                           text=True)
            servers.append(server)
            line = Lines(server.stdout).get(time.monotonic() + 30, "the %s server" % impl)
            if not line or not line.startswith("READY"):
                raise BenchError("%s cluster server did not start (see %s)" % (impl, log_dir))
        time.sleep(1.0)  # both subscribed
        load_cfg = dict(case="broadcast", port=ports[0], ports=ports, clients=CLUSTER_CLIENTS,
                        concurrency=100, window=8, warmup=opts.warmup, duration=opts.duration,
                        timeout=opts.duration + 150)
        load = subprocess.Popen(["taskset", "-c", ",".join(map(str, cpus)), "node", LOADGEN,
                                 json.dumps(load_cfg)], preexec_fn=_raise_nofile,
                                start_new_session=True, cwd=ROOT, stdout=subprocess.PIPE,
                                text=True)
        _children.append(load)
        lines = Lines(load.stdout)
        deadline = time.monotonic() + opts.duration + 160
        cpu0: List[float] = []
        t0 = 0.0
        shares: List[float] = []
        while True:
            line = lines.get(deadline, "the cluster load generator (%s)" % impl)
            if line is None:
                raise BenchError("cluster load generator exited without a result (%s)" % impl)
            if line == "MEASURE_START":
                cpu0, t0 = [cpu_seconds(s.pid) for s in servers], time.monotonic()
            elif line == "MEASURE_END" and cpu0:
                wall = time.monotonic() - t0
                shares = [(cpu_seconds(s.pid) - c) / wall for s, c in zip(servers, cpu0)]
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
                break
            elif line.startswith("ERROR "):
                raise BenchError("cluster load generator (%s): %s" % (impl, line[6:]))
        for server in servers:
            if server.poll() is not None:
                raise BenchError("a %s cluster server died (see %s)" % (impl, log_dir))
        out = {"rate": result["rate"], "latency_ms": result.get("latency_ms"),
               "server_cpu": shares, "load_cpu": result.get("cpu_share"), "detail": result}
        if result.get("bad"):
            out["warning"] = "%d deliveries out of order" % result["bad"]
        return out
    finally:
        stop(load)
        for server in servers:
            stop(server)
        stop(redis)


def cluster_scenario(opts: argparse.Namespace, cpus: List[int]) -> List[Dict[str, Any]]:
    """Run the cluster scenario for every implementation (``opts.rounds`` times each; the
    median rate is kept); print one line per run and return the summary rows."""
    runs: Dict[str, List[Dict[str, Any]]] = {}
    for rnd in range(opts.rounds):
        order = CLUSTER_IMPLS if rnd % 2 == 0 else tuple(reversed(CLUSTER_IMPLS))
        for impl in order:
            t = time.monotonic()
            r = run_cluster(impl, opts, cpus, opts.logs)
            runs.setdefault(impl, []).append(r)
            lat = r.get("latency_ms") or {}
            print("  [%d] %-10s %-16s %10s deliv/s  latency p50 %s ms p99 %s ms  server CPU "
                  "%s  load CPU %s (%.0f s)%s"
                  % (rnd + 1, "cluster", impl, fmt(r["rate"], "deliv/s"),
                     _ms(lat.get("p50")), _ms(lat.get("p99")),
                     "/".join(pct(x) for x in r["server_cpu"]), pct(r.get("load_cpu")),
                     time.monotonic() - t,
                     ("  WARNING: " + r["warning"]) if r.get("warning") else ""), flush=True)
    rows = []
    for impl in CLUSTER_IMPLS:
        got = sorted(runs.get(impl, []), key=lambda r: r["rate"])
        if got:
            mid = got[len(got) // 2]
            rows.append({"impl": impl, "rate": mid["rate"], "latency_ms": mid["latency_ms"],
                         "server_cpu": mid["server_cpu"]})
    return rows


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else "%.1f" % value


def print_cluster_table(rows: List[Dict[str, Any]]) -> None:
    by = {r["impl"]: r for r in rows}
    print("cluster: 2 servers (one per core) on one Redis, %d websocket clients split between "
          "them, broadcasts from one reaching all" % CLUSTER_CLIENTS)
    for r in rows:
        lat = r["latency_ms"] or {}
        print("  %-16s %10s deliv/s   latency p50 %6s ms  p99 %6s ms   server CPU %s"
              % (r["impl"], fmt(r["rate"], "deliv/s"), _ms(lat.get("p50")),
                 _ms(lat.get("p99")), "/".join(pct(x) for x in r["server_cpu"])))
    mine = by.get("geventio")
    for peer, target in (("python-socketio", 1.5), ("node", 1.0)):
        if mine and peer in by and by[peer]["rate"]:
            ratio = mine["rate"] / by[peer]["rate"]
            print("  geventio / %-16s %.2fx  (target >= %.1fx: %s)"
                  % (peer, ratio, target, "met" if ratio >= target else "NOT met"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description="geventio vs python-socketio (gevent) benchmark",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 0.5 s warm-up, 2 s measured, 1000 idle clients")
    parser.add_argument("--duration", type=float, help="seconds measured per case and server "
                        "(default 10; 2 with --quick)")
    parser.add_argument("--warmup", type=float, help="seconds of load before measuring "
                        "(default 2; 0.5 with --quick)")
    parser.add_argument("--idle-clients", type=int,
                        help="connections in the idle memory case "
                             "(default 5000; 1000 with --quick)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every case; the table shows the median")
    parser.add_argument("--cases", default=",".join(c.key for c in CASES),
                        help="comma-separated subset of: %s, cluster (two processes per "
                        "server on one Redis; not in the default set), deflate "
                        "(permessage-deflate on/off; alone)"
                        % ", ".join(c.key for c in CASES))
    parser.add_argument("--only", choices=ALL_IMPLS, help="run one server only (no ratios)")
    parser.add_argument("--node", action="store_true",
                        help="also measure node socket.io 4.8 (scripts/bench/node_server.js) "
                        "in every case, as a third column")
    parser.add_argument("--message-size", type=int, default=0, metavar="N",
                        help="echo cases: each message is N characters of JSON-like text "
                        "(quotes and newlines, as in --cases deflate) instead of a 24-byte "
                        "string")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--profile", metavar="DIR",
                        help="py-spy record each server during each measured window "
                             "into DIR (perturbs the numbers: for finding hot spots only)")
    parser.add_argument("--memprofile", metavar="DIR",
                        help="tracemalloc both servers in the idle_mem case; writes "
                             "DIR/idle_mem-<server>.txt (perturbs the numbers)")
    parser.add_argument("--logs", default=os.path.join(ROOT, "build", "bench-logs"),
                        help="where the servers' stderr goes (default build/bench-logs)")
    parser.add_argument("--max-other", type=float, default=0.10,
                        help="flag a measurement as noisy when other processes take more than "
                             "this share of the server's core, or push the load generator's "
                             "core past 90%% busy by more than it (default 0.10)")
    parser.add_argument("--retry-noisy", type=int, default=0, metavar="N",
                        help="measure a noisy case/server again, up to N times, and keep the "
                             "least noisy measurement (default 0)")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="instead: geventio-serve --workers N against one geventio-serve "
                        "process (cases connect, ws_echo, poll_echo; scripts/bench/workers.py)")
    parser.add_argument("--no-install", action="store_true",
                        help="fail instead of installing missing packages")
    opts = parser.parse_args()
    opts.duration = opts.duration or (2.0 if opts.quick else 10.0)
    opts.warmup = opts.warmup if opts.warmup is not None else (0.5 if opts.quick else 2.0)
    opts.idle_clients = opts.idle_clients or (1000 if opts.quick else 5000)
    opts.settle = 0.5 if opts.quick else 1.5
    wanted = [c for c in opts.cases.split(",") if c]
    if "deflate" in wanted:
        if wanted != ["deflate"]:
            parser.error("--cases deflate runs alone")
        sys.path.insert(0, BENCH_DIR)
        import deflate
        try:
            return deflate.run(opts, sys.modules[__name__])
        except BenchError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 1
        finally:
            stop_all()
    with_cluster = "cluster" in wanted
    wanted = [c for c in wanted if c != "cluster"]
    unknown = set(wanted) - {c.key for c in CASES}
    if unknown:
        parser.error("unknown case(s): %s" % ", ".join(sorted(unknown)))
    cases = [c for c in CASES if c.key in wanted]
    impls = [opts.only] if opts.only else list(IMPLS) + (["node"] if opts.node else [])
    if opts.workers:
        sys.path.insert(0, BENCH_DIR)
        import workers
        try:
            return workers.run(opts, [c for c in cases if c.key in workers.CASES],
                               sys.modules[__name__])
        except BenchError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 1
        finally:
            stop_all()

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    started = time.monotonic()
    try:
        cpus = check_environment(opts)
        os.makedirs(opts.logs, exist_ok=True)
        print("geventio benchmark: server on CPU %d, load generator on CPU %d; %s s warm-up, "
              "%s s measured per case; %d round(s)" % (cpus[0], cpus[1], opts.warmup,
                                                       opts.duration, opts.rounds))
        print("peer: %s; node %s" % (python_socketio_version(),
                                      subprocess.check_output(["node", "--version"],
                                                              text=True).strip()))
        if opts.message_size:
            print("echo messages: %d characters of JSON-like text" % opts.message_size)
        print("geventio tree: %s; load before: %s" % (git_revision(),
                                                       open("/proc/loadavg").read().strip()))
        results: Dict[str, Dict[str, List[Dict[str, Any]]]] = {c.key: {} for c in cases}
        for rnd in range(opts.rounds):
            for n, case in enumerate(cases):
                order = impls if (n + rnd) % 2 == 0 else list(reversed(impls))
                for impl in order:
                    t = time.monotonic()
                    r = run_one(case, impl, opts, cpus, opts.logs)
                    for _ in range(opts.retry_noisy):
                        if noise(r) <= opts.max_other:
                            break
                        print("  [%d] %-10s %-16s %s; measuring again"
                              % (rnd + 1, case.key, impl, r.get("warning")), flush=True)
                        again = run_one(case, impl, opts, cpus, opts.logs)
                        if noise(again) < noise(r):
                            r = again
                    results[case.key].setdefault(impl, []).append(r)
                    print("  [%d] %-10s %-16s %10s %-8s %7s us/msg  load CPU %4s  server CPU "
                          "%4s  others %4s/%-4s (%.0f s)%s"
                          % (rnd + 1, case.key, impl, fmt(r["rate"], case.unit), case.unit,
                             _us(us_per_message(r, case.unit)),
                             pct(r.get("load_cpu")), pct(r.get("server_cpu")),
                             pct(r.get("other_server_core")), pct(r.get("other_load_core")),
                             time.monotonic() - t,
                             ("  WARNING: " + r["warning"]) if r.get("warning") else ""),
                          flush=True)
        cluster_rows = cluster_scenario(opts, cpus) if with_cluster else []
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the servers and the load generator", file=sys.stderr)
        return 130
    except BenchError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    finally:
        stop_all()

    rows = [summarize(c, results[c.key], opts) for c in cases]
    print()
    if rows:
        print_table(rows, opts)
    if cluster_rows:
        print()
        print_cluster_table(cluster_rows)
    print("\nload CPU = load generator CPU time / wall time on its own core (must stay < ~90%%);"
          "\nserver CPU = server process CPU time / wall time on its core (~100%% = saturated)."
          "\nothers = largest share of the server's core that other processes took during a"
          "\n         measurement (per-measurement lines also show the load generator's core)."
          "\nidle_mem: (VmRSS after - before connecting) / connections; lower is better."
          "\ntotal %.0f s; load after: %s" % (time.monotonic() - started,
                                               open("/proc/loadavg").read().strip()))
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump({"rows": rows, "cluster": cluster_rows, "argv": sys.argv[1:]}, fh,
                      indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
