"""CPU cost of compressing polling answers (issue 12): microseconds per KB of body for gzip
and deflate at geventio's level, the compression ratio, and the cost below the threshold.

    PYTHONPATH=. python3 scripts/compression_cost.py
"""
import json
import random
import time

from geventio.settings import Settings
from geventio.transports.http import COMPRESS_LEVEL, Exchange, compress


class _Context:
    settings = Settings()


def payload(size: int) -> bytes:
    """A Socket.IO v4 polling answer of about ``size`` bytes: EVENT packets carrying
    chat-like JSON objects (what a large answer usually is), record separator between."""
    rnd = random.Random(size)
    words = ["alpha", "beta", "gamma", "delta", "user", "room", "message", "hello", "ok"]
    packets, total = [], 0
    while total < size:
        data = ["chat", {"id": rnd.randrange(10 ** 9), "user": "user%d" % rnd.randrange(500),
                         "text": " ".join(rnd.choice(words) for _ in range(12)),
                         "ts": 1765000000000 + rnd.randrange(10 ** 6)}]
        packet = "42" + json.dumps(data, separators=(",", ":"))
        packets.append(packet)
        total += len(packet) + 1
    return "\x1e".join(packets).encode("utf-8")[:size]


def per_call(fn, seconds: float = 0.1, rounds: int = 5) -> float:
    """Seconds per call of ``fn``: the best of ``rounds`` timed runs (the least disturbed)."""
    best = float("inf")
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            n += 1
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main() -> None:
    print("zlib level %d" % COMPRESS_LEVEL)
    print("%9s %8s %12s %10s %8s" % ("body", "coding", "us/call", "us/KB", "ratio"))
    for size in (1024, 4096, 16384, 65536, 1024 * 1024):
        body = payload(size)
        for coding in ("gzip", "deflate"):
            seconds = per_call(lambda c=coding, b=body: compress(c, b))
            ratio = len(compress(coding, body)) / len(body)
            print("%9d %8s %12.1f %10.2f %8.3f"
                  % (len(body), coding, seconds * 1e6, seconds * 1e6 / (len(body) / 1024),
                     ratio))
    small = Exchange(_Context(), {"HTTP_ACCEPT_ENCODING": "gzip"}, None, "polling")  # type: ignore[arg-type]
    body = payload(512)
    print("below the threshold (512 bytes): %.3f us per encode()"
          % (per_call(lambda b=body: small.encode(b)) * 1e6))


if __name__ == "__main__":
    main()
