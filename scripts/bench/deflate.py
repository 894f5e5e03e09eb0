"""bench.py --cases deflate: what permessage-deflate costs, websocket echo and fanout.

Every client offers permessage-deflate (as browsers and node's engine.io-client do:
``permessage-deflate; client_max_window_bits``) and compresses what it sends from 1024 bytes
up; the server's setting decides. Each message is ``--payload-bytes`` (default 2048) of
compressible JSON-like text: echo (50 clients emit it and wait for the ack carrying it back)
and fanout (one client asks, the server emits it to every client; ``tick`` carries it).

Servers, one after the other, pinned to one core with the load generator on the other:

  geventio off        per_message_deflate=False (the default): the offer is declined
  geventio on         per_message_deflate=True: context takeover, 15-bit windows
  geventio no-ctx     server and client no context takeover, 10-bit windows, mem_level 5
                      (a broadcast is then compressed once for all)
  node off / node on  socket.io 4.8 (socket.io-v4), perMessageDeflate false / true

For each: messages (or deliveries) per second, the server's CPU share, and its RSS at the
end of the measured window (every connection still open); then on/off ratios per server.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Dict, List

NODE_SERVER = "node_server.js"

CONFIGS = [
    ("geventio", "off", False),
    ("geventio", "on", True),
    ("geventio", "no-ctx", {"server_no_context_takeover": True,
                            "client_no_context_takeover": True,
                            "server_max_window_bits": 10, "client_max_window_bits": 10,
                            "mem_level": 5}),
    ("node", "off", False),
    ("node", "on", True),
]
CASES = [("echo", "ws_echo", dict(clients=50)),
         ("fanout", "broadcast", dict(clients=500, concurrency=100, window=8))]


def server_command(bench: Any, impl: str, setting: Any, port: int, payload: int) -> List[str]:
    if impl == "node":
        sys.path.insert(0, bench.BENCH_DIR)
        from server import compressible_payload
        return ["node", os.path.join(bench.BENCH_DIR, NODE_SERVER), json.dumps(dict(
            port=port, perMessageDeflate=setting, payload=compressible_payload(payload)))]
    return [sys.executable, bench.SERVER, "--impl", "geventio", "--port", str(port),
            "--transports", "websocket", "--deflate", json.dumps(setting),
            "--payload-bytes", str(payload)]


def run_one(bench: Any, opts: Any, cpus: List[int], case: tuple, config: tuple,
            payload: int) -> Dict[str, Any]:
    name, load_case, load_extra = case
    impl, label, setting = config
    server_cpu, load_cpu = cpus
    port = bench.free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=bench.ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log_path = os.path.join(opts.logs, "deflate-%s-%s-%s.server.log" % (name, impl, label))
    server = load = None
    with open(log_path, "w") as log:
        try:
            server = bench.spawn(server_command(bench, impl, setting, port, payload), server_cpu,
                                 env=env, stdout=bench.subprocess.PIPE, stderr=log, text=True)
            line = bench.Lines(server.stdout).get(time.monotonic() + 30, "the server")
            if not line or not line.startswith("READY"):
                raise bench.BenchError("%s server did not start (see %s)" % (impl, log_path))
            sys.path.insert(0, bench.BENCH_DIR)
            from server import compressible_payload
            cfg = dict(case=load_case, port=port, warmup=opts.warmup, duration=opts.duration,
                       timeout=opts.duration + 150, deflate={"threshold": 1024},
                       payload=compressible_payload(payload), **load_extra)
            load = bench.spawn(["node", bench.LOADGEN, json.dumps(cfg)], load_cpu,
                               stdin=bench.subprocess.PIPE, stdout=bench.subprocess.PIPE,
                               text=True)
            lines = bench.Lines(load.stdout)
            deadline = time.monotonic() + opts.duration + 160
            out: Dict[str, Any] = {}
            cpu0 = t0 = 0.0
            while True:
                line = lines.get(deadline, "the load generator")
                if line is None:
                    raise bench.BenchError("load generator ended without a result (%s %s %s); "
                                           "server log: %s" % (name, impl, label, log_path))
                if line == "MEASURE_START":
                    cpu0, t0 = bench.cpu_seconds(server.pid), time.monotonic()
                elif line == "MEASURE_END":
                    out["server_cpu"] = (bench.cpu_seconds(server.pid) - cpu0) / \
                        (time.monotonic() - t0)
                    out["rss_mib"] = bench.rss_kib(server.pid) / 1024
                elif line.startswith("RESULT "):
                    result = json.loads(line[7:])
                    break
                elif line.startswith("ERROR "):
                    raise bench.BenchError("load generator (%s %s %s): %s; server log: %s"
                                           % (name, impl, label, line[6:], log_path))
            out.update(rate=result["rate"], load_cpu=result.get("cpu_share"),
                       bad=result.get("bad", 0))
            return out
        finally:
            bench.stop(load)
            bench.stop(server)


def run(opts: Any, bench: Any, payload: int = 2048) -> int:
    """Run every case with every server configuration and print the table."""
    cpus = bench.check_environment(opts)
    os.makedirs(opts.logs, exist_ok=True)
    print("permessage-deflate cost: %d-byte compressible messages; server on CPU %d, load "
          "generator on CPU %d; %s s measured; load before: %s"
          % (payload, cpus[0], cpus[1], opts.duration, open("/proc/loadavg").read().strip()))
    rows: List[Dict[str, Any]] = []
    for case in CASES:
        for config in CONFIGS:
            r = run_one(bench, opts, cpus, case, config, payload)
            r.update(case=case[0], impl=config[0], config=config[1])
            rows.append(r)
            print("  %-6s %-8s %-6s %9.0f /s  server CPU %4s  load CPU %4s  RSS %7.1f MiB%s"
                  % (case[0], config[0], config[1], r["rate"], bench.pct(r["server_cpu"]),
                     bench.pct(r["load_cpu"]), r["rss_mib"],
                     "  (%d bad)" % r["bad"] if r["bad"] else ""), flush=True)
    print()
    print("%-6s %-8s %-7s %10s %8s %12s %8s %9s %8s" % (
        "case", "server", "deflate", "rate/s", "vs off", "server us/msg", "vs off", "RSS MiB",
        "vs off"))
    for r in rows:
        off = next(o for o in rows if o["case"] == r["case"] and o["impl"] == r["impl"]
                   and o["config"] == "off")
        r["cpu_us_per_msg"] = r["server_cpu"] * 1e6 / r["rate"] if r["rate"] else None
        off_us = off["server_cpu"] * 1e6 / off["rate"] if off["rate"] else None
        print("%-6s %-8s %-7s %10.0f %7.2fx %12.1f %7.2fx %9.1f %7.2fx"
              % (r["case"], r["impl"], r["config"], r["rate"], r["rate"] / off["rate"],
                 r["cpu_us_per_msg"] or 0, (r["cpu_us_per_msg"] or 0) / (off_us or 1),
                 r["rss_mib"], r["rss_mib"] / off["rss_mib"]))
    print("\nserver us/msg = the server's CPU time per message (echo) or delivery (fanout):\n"
          "the cost to compare when the server is not saturated (its CPU share < 100%, e.g.\n"
          "while the load generator inflates: node's zlib streams are asynchronous).")
    print("\nload after: %s" % open("/proc/loadavg").read().strip())
    if getattr(opts, "json", None):
        with open(opts.json, "w") as fh:
            json.dump({"deflate": rows}, fh, indent=2)
    return 0
