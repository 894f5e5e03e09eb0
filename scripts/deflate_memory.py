"""Memory per WebSocket with permessage-deflate off and on, idle and after one compressed
exchange, one server process.

    python scripts/deflate_memory.py [--clients 1000] [--payload-bytes 2048] [--json FILE]

For each ``per_message_deflate`` setting below, starts the benchmark's geventio server
(scripts/bench/server.py, websocket only) and drives it with the Node load generator
(scripts/bench/load.js, case ``idle_mem``; its clients offer permessage-deflate as browsers
do and compress what they send from 1024 bytes up). It reads the server's RSS (VmRSS)
before the clients connect, once they are all connected and idle, and once every client
has made one echo round trip with a compressible message of ``--payload-bytes`` (above the
threshold both ways, so each connection compresses and inflates once); it prints the growth
per connection. The zlib objects are made only when first needed, so "idle" costs the same
with deflate on; after the exchange a connection with context takeover keeps its deflate
and inflate state. Bounded in time (``--timeout``); needs Node on PATH. Results are written
up in docs/RESOURCES.md.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER = os.path.join(HERE, "bench", "server.py")
LOAD = os.path.join(HERE, "bench", "load.js")

SETTINGS = [
    ("off", False),
    ("on (defaults: context takeover, 15-bit windows, mem_level 8)", True),
    ("on, 10-bit windows, mem_level 5", {"server_max_window_bits": 10,
                                         "client_max_window_bits": 10, "mem_level": 5}),
    ("on, no context takeover (both ways)", {"server_no_context_takeover": True,
                                             "client_no_context_takeover": True}),
]


def _rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _expect(proc: subprocess.Popen, prefix: str, deadline: float) -> str:
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith(prefix):
            return line.strip()
        if line.startswith("ERROR") or time.monotonic() > deadline:
            raise RuntimeError(line.strip() or "timed out waiting for %r" % prefix)
    raise RuntimeError("the process ended before %r" % prefix)


def _say(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]


def _stop(proc: Optional[subprocess.Popen]) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def measure(setting: Any, clients: int, payload_bytes: int, timeout: float) -> Dict[str, Any]:
    """RSS before, idle and after one exchange, for one setting."""
    sys.path.insert(0, os.path.join(HERE, "bench"))
    from server import compressible_payload

    port = _free_port()
    deadline = time.monotonic() + timeout
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    server = load = None
    try:
        server = subprocess.Popen(
            [sys.executable, SERVER, "--impl", "geventio", "--port", str(port),
             "--transports", "websocket", "--deflate", json.dumps(setting)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        _expect(server, "READY", deadline)
        config = {"case": "idle_mem", "port": port, "clients": clients, "concurrency": 100,
                  "timeout": timeout, "deflate": {"threshold": 1024},
                  "payload": compressible_payload(payload_bytes)}
        load = subprocess.Popen(["node", LOAD, json.dumps(config)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        _expect(load, "WARM", deadline)
        time.sleep(1.0)
        before = _rss_kib(server.pid)
        _say(load, "go")
        n = int(_expect(load, "CONNECTED", deadline).split()[1])
        time.sleep(1.0)
        idle = _rss_kib(server.pid)
        _say(load, "exchange")
        _expect(load, "EXCHANGED", deadline)
        time.sleep(1.0)
        after = _rss_kib(server.pid)
        _say(load, "done")
        _expect(load, "RESULT", deadline)
        return {"connections": n, "rss_before_kib": before, "rss_idle_kib": idle,
                "rss_after_kib": after, "idle_kib_per_conn": (idle - before) / n,
                "after_kib_per_conn": (after - before) / n,
                "exchange_kib_per_conn": (after - idle) / n}
    finally:
        _stop(load)
        _stop(server)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--payload-bytes", type=int, default=2048)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds allowed per setting")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    rows = []
    sys.stdout.write("%d WebSockets, one %d-byte compressible echo each; RSS growth per "
                     "connection (KiB)\n\n" % (args.clients, args.payload_bytes))
    sys.stdout.write("%-62s %8s %16s %18s\n" % ("per_message_deflate", "idle",
                                                "after exchange", "of which exchange"))
    for label, setting in SETTINGS:
        row = dict(measure(setting, args.clients, args.payload_bytes, args.timeout),
                   setting=label)
        rows.append(row)
        sys.stdout.write("%-62s %8.1f %16.1f %18.1f\n" % (
            label, row["idle_kib_per_conn"], row["after_kib_per_conn"],
            row["exchange_kib_per_conn"]))
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
