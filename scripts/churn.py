"""Resource churn: what a geventio server holds before, with 5,000 idle WebSockets, and after
20,000 connect/disconnect cycles; and what glibc keeps of the memory freed.

    python scripts/churn.py [--idle 5000] [--cycles 20000] [--port 0] [--json FILE]

Starts its own server (this file with ``--serve``: the benchmark's Socket.IO app on
127.0.0.1, plus ``/_churn/stats`` and ``/_churn/trim``), drives it with the Node load
generator (scripts/bench/load.js: ``idle_mem`` for the idle WebSockets, ``connect`` for the
cycles), stops it, and prints one table: RSS, open fds, live greenlets, live Python objects,
geventio sessions, and glibc's free-but-kept bytes (mallinfo2 ``fordblks``) at each step,
then RSS after ``malloc_trim(0)``. Bounded in time (``--timeout``); needs Node on PATH.
Results are written up in docs/RESOURCES.md.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOAD = os.path.join(HERE, "bench", "load.js")


# -- the server side (run as ``churn.py --serve PORT``) ---------------------------------------

class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def _malloc_free_bytes(libc: Any) -> Optional[int]:
    """Bytes glibc holds free in its arenas (mallinfo2's fordblks), or None."""
    fn = getattr(libc, "mallinfo2", None)
    if fn is None:
        return None
    fn.restype = _MallInfo2
    return int(fn().fordblks)


def _rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def serve(port: int) -> None:
    """The measured server: the benchmark app plus two measuring endpoints."""
    from gevent import monkey
    monkey.patch_all()
    import gc
    import logging

    import greenlet

    sys.path.insert(0, ROOT)
    import geventio

    logging.basicConfig(level=logging.WARNING)
    libc = _libc()

    class Bench(geventio.SocketConnection):
        @geventio.event
        def echo(self, data: Any) -> Any:
            return data

    router = geventio.get_router(Bench, settings=dict(ping_interval=25.0, ping_timeout=20.0))

    def measure(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/_churn/trim" and libc is not None:
            libc.malloc_trim(0)
        gc.collect()
        objects = gc.get_objects()
        stats = {
            "rss_kib": _rss_kib(os.getpid()),
            "fds": len(os.listdir("/proc/self/fd")),
            "greenlets": sum(1 for o in objects if isinstance(o, greenlet.greenlet)),
            "objects": len(objects),
            "sessions": router.session_count,
            "malloc_free_kib": (_malloc_free_bytes(libc) or 0) // 1024 if libc else None,
        }
        del objects
        body = json.dumps(stats).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    app = geventio.Application([router.route()], fallback=measure, socket_io_port=port,
                               socket_io_address="127.0.0.1", flash_policy_port=None)
    server = geventio.SocketServer(app, auto_start=False)
    server.start()
    sys.stdout.write("READY %d\n" % server.address[1])
    sys.stdout.flush()
    server.stop_on_signals()
    server.serve_forever()


# -- the driver ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stats(port: int, trim: bool = False) -> Dict[str, Any]:
    url = "http://127.0.0.1:%d/_churn/%s" % (port, "trim" if trim else "stats")
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _settle(port: int, greenlets: int = 10, timeout: float = 30.0) -> Dict[str, Any]:
    """Stats once the server has let go of every session and all but ``greenlets``
    greenlets (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    stats = _stats(port)
    while ((stats["sessions"] or stats["greenlets"] > greenlets)
           and time.monotonic() < deadline):
        time.sleep(0.5)
        stats = _stats(port)
    return stats


def _load(port: int, case: Dict[str, Any], timeout: float) -> subprocess.Popen:
    config = dict(case, port=port, timeout=timeout)
    return subprocess.Popen(["node", LOAD, json.dumps(config)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _expect(proc: subprocess.Popen, prefix: str) -> str:
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith(prefix):
            return line.strip()
        if line.startswith("ERROR"):
            raise RuntimeError(line.strip())
    raise RuntimeError("the load generator ended before %r" % prefix)


def run(idle: int, cycles: int, timeout: float) -> List[Dict[str, Any]]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(port)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    rows: List[Dict[str, Any]] = []
    try:
        _expect(server, "READY")
        rows.append(dict(_settle(port), step="before"))

        loader = _load(port, {"case": "idle_mem", "clients": idle, "concurrency": 200},
                        timeout)
        _expect(loader, "WARM")
        loader.stdin.write("go\n")  # type: ignore[union-attr]
        loader.stdin.flush()  # type: ignore[union-attr]
        connected = _expect(loader, "CONNECTED")
        rows.append(dict(_stats(port), step="%s idle WebSockets" % connected.split()[1]))
        loader.stdin.write("done\n")  # type: ignore[union-attr]
        loader.stdin.flush()  # type: ignore[union-attr]
        _expect(loader, "RESULT")
        loader.wait(timeout)
        rows.append(dict(_settle(port), step="idle WebSockets closed"))

        done = 0
        started = time.monotonic()
        while done < cycles and time.monotonic() - started < timeout:
            loader = _load(port, {"case": "connect", "concurrency": 50, "warmup": 0,
                                  "duration": 5}, timeout)
            result = json.loads(_expect(loader, "RESULT")[len("RESULT "):])
            loader.wait(timeout)
            done += int(result["count"])
        rows.append(dict(_settle(port), step="after %d connect/disconnect cycles" % done))
        rows.append(dict(_stats(port, trim=True), step="after malloc_trim(0)"))
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=20000)
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="bound on each phase, seconds")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return 0
    rows = run(args.idle, args.cycles, args.timeout)
    columns = ("rss_kib", "malloc_free_kib", "fds", "greenlets", "objects", "sessions")
    sys.stdout.write("%-40s %s\n" % ("step", " ".join("%15s" % c for c in columns)))
    for row in rows:
        sys.stdout.write("%-40s %s\n" % (row["step"], " ".join(
            "%15s" % row.get(c) for c in columns)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
