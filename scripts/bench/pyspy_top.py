"""Summarize a py-spy ``--format raw`` (collapsed stacks) profile: top functions by self
time and by inclusive time, as shares of all samples.

    python scripts/bench/pyspy_top.py build/bench-profiles/ws_echo-geventio.txt [-n 30]
        [--filter geventio/]

``scripts/bench.py --profile DIR`` writes such files for the geventio server, one per case.
"""
from __future__ import annotations

import argparse
import collections
import re
import sys

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def short(frame: str, keep_line: bool) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if keep_line and m.group("line"):
        return "%s (%s:%s)" % (m.group("func"), path, m.group("line"))
    return "%s (%s)" % (m.group("func"), path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--lines", action="store_true", help="per line instead of per function")
    ap.add_argument("--filter", help="only list functions whose file contains this")
    args = ap.parse_args()
    self_t: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    total = 0
    with open(args.profile) as fh:
        for raw in fh:
            raw = raw.rstrip("\n")
            if not raw:
                continue
            stack, _, count = raw.rpartition(" ")
            n = int(count)
            frames = [short(f, args.lines) for f in stack.split(";") if f]
            if frames and frames[0].startswith("process "):
                frames = frames[1:]
            if frames and frames[0].startswith("thread "):
                frames = frames[1:]
            total += n
            if frames:
                self_t[frames[-1]] += n
            for f in set(frames):
                incl[f] += n
    if not total:
        sys.exit("no samples in %s" % args.profile)
    print("%d samples" % total)
    for title, counter in (("self", self_t), ("inclusive", incl)):
        print("\n-- top by %s time --" % title)
        shown = 0
        for func, n in counter.most_common():
            if args.filter and args.filter not in func:
                continue
            print("%6.1f%%  %s" % (100.0 * n / total, func))
            shown += 1
            if shown >= args.n:
                break


if __name__ == "__main__":
    main()
