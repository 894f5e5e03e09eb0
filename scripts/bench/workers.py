"""bench.py --workers N: ``geventio-serve --workers N`` against one geventio-serve process,
same application (scripts/bench/app.py), same load (scripts/bench/load.js).

Nothing is pinned here: the N workers, the parent and the load generator share the machine's
cores, as they would in production with the load coming from elsewhere, except that here the
load generator takes its part of the same cores. So on 2 cores, ``--workers 2`` cannot
double a number: the ratio says how much of the load generator's leftover CPU the second
worker turns into throughput. The parent's cost is measured directly: its CPU time over the
measured window, per connection accepted and per message, and as a share of all the server
processes' CPU time.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List

CASES = ("connect", "ws_echo", "poll_echo")


def children(pid: int) -> List[int]:
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def wait_listening(port: int, proc: subprocess.Popen, bench: Any) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise bench.BenchError("geventio-serve exited at start (code %s)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise bench.BenchError("geventio-serve never listened") from None
            time.sleep(0.1)


def run_one(case: Any, workers: int, opts: Any, bench: Any) -> Dict[str, Any]:
    port = bench.free_port()
    env = dict(os.environ, BENCH_TRANSPORTS=case.transports, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([bench.ROOT, bench.BENCH_DIR,
                                           os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "geventio.cli", os.path.join(bench.BENCH_DIR, "app.py") +
           ":application", "--port", str(port), "--log-level", "warning"]
    if workers:
        cmd += ["--workers", str(workers), "--no-message-queue"]
    log_path = os.path.join(opts.logs, "workers-%s-%d.server.log" % (case.key, workers))
    server = load = None
    with open(log_path, "w") as log:
        try:
            server = subprocess.Popen(cmd, cwd=bench.ROOT, env=env, stderr=log,
                                      stdout=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=bench._raise_nofile)
            bench._children.append(server)
            wait_listening(port, server, bench)
            kids = children(server.pid) if workers else []
            cfg = dict(case=case.key, port=port, warmup=opts.warmup, duration=opts.duration,
                       timeout=opts.duration + 150, **case.load)
            load = subprocess.Popen(["node", bench.LOADGEN, json.dumps(cfg)], cwd=bench.ROOT,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    start_new_session=True, preexec_fn=bench._raise_nofile)
            bench._children.append(load)
            lines = bench.Lines(load.stdout)
            deadline = time.monotonic() + opts.duration + 160
            out: Dict[str, Any] = {}
            while True:
                line = lines.get(deadline, "the load generator (%s)" % case.key)
                if line is None:
                    raise bench.BenchError("load generator exited (%s); see %s"
                                           % (case.key, log_path))
                if line == "MEASURE_START":
                    t0 = time.monotonic()
                    p0 = bench.cpu_seconds(server.pid)
                    w0 = sum(bench.cpu_seconds(k) for k in kids)
                elif line == "MEASURE_END":
                    seconds = time.monotonic() - t0
                    out["parent_cpu"] = bench.cpu_seconds(server.pid) - p0
                    out["workers_cpu"] = sum(bench.cpu_seconds(k) for k in kids) - w0
                    out["seconds"] = seconds
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
                    break
                elif line.startswith("ERROR "):
                    raise bench.BenchError("load generator (%s): %s" % (case.key, line[6:]))
            out["rate"] = result["rate"]
            out["count"] = result.get("count")
            out["load_cpu"] = result.get("cpu_share")
            out["errors"] = result.get("errors") or result.get("bad") or 0
            return out
        finally:
            bench.stop(load)
            bench.stop(server, grace=10)


def run(opts: Any, cases: List[Any], bench: Any) -> int:
    """Measure every case with one process and with ``opts.workers``; print the table."""
    os.makedirs(opts.logs, exist_ok=True)
    print("geventio-serve --workers %d vs one process; nothing pinned (%d cores shared with "
          "the load generator); %s s warm-up, %s s measured per case"
          % (opts.workers, os.cpu_count() or 0, opts.warmup, opts.duration), flush=True)
    rows = []
    for case in cases:
        one = run_one(case, 0, opts, bench)
        many = run_one(case, opts.workers, opts, bench)
        total = many["parent_cpu"] + many["workers_cpu"]
        count = many["count"] or many["rate"] * many["seconds"]
        rows.append(dict(case=case.key, unit=case.unit, one=one["rate"], many=many["rate"],
                         ratio=many["rate"] / one["rate"] if one["rate"] else None,
                         one_load_cpu=one["load_cpu"], many_load_cpu=many["load_cpu"],
                         one_server_cpu=one["parent_cpu"] / one["seconds"],
                         workers_cpu=many["workers_cpu"] / many["seconds"],
                         parent_cpu=many["parent_cpu"] / many["seconds"],
                         parent_share=many["parent_cpu"] / total if total else None,
                         parent_us_per_unit=1e6 * many["parent_cpu"] / count if count else None,
                         errors=one["errors"] + many["errors"]))
        r = rows[-1]
        print("  %-10s one %9.0f %-7s --workers %d %9.0f  ratio %.2f  parent CPU %.1f%% of "
              "the servers' (%.2f us per %s)  load CPU %s / %s%s"
              % (case.key, r["one"], case.unit, opts.workers, r["many"], r["ratio"] or 0,
                 100 * (r["parent_share"] or 0), r["parent_us_per_unit"] or 0,
                 case.unit.split("/")[0], bench.pct(r["one_load_cpu"]),
                 bench.pct(r["many_load_cpu"]),
                 "  (%d errors)" % r["errors"] if r["errors"] else ""), flush=True)
    print("\nratio = --workers rate / one-process rate, with the load generator on the same "
          "cores;\nparent CPU = the --workers parent's CPU time / (parent + workers) over the "
          "measured window,\nand per unit (connection, message) measured.")
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump({"workers": rows, "argv": sys.argv[1:]}, fh, indent=2)
    return 0
