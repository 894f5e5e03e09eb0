#!/usr/bin/env bash
# Runs the official Engine.IO / Socket.IO conformance suites against geventio.
#
#   bash scripts/conformance.sh /path/to/socket.io/docs      # or: GEVENTIO_SUITES=/path/... bash ...
#   REPEAT=3 SUITES="eio4 eio3 sio5" bash scripts/conformance.sh /path/to/docs
#
# The argument is the `docs/` directory of an extracted socketio/socket.io monorepo (the one
# holding engine.io-protocol/{v4,v3}-test-suite and socket.io-protocol/v5-test-suite).
# This script fetches nothing itself: it copies each suite into a temporary directory, runs
# `npm ci` there (npm registry only), starts scripts/conformance_server.py with the settings
# the suite's README asks for on localhost:3000 (the port is fixed by the suites), runs
# `mocha --exit test-suite.js` REPEAT times and prints one line per run:
#
#   eio4 run 1: 25 passed, 0 failed, 0 pending
#
# then a summary, naming any failing test. Exit status 0 when nothing failed.
# Environment: PYTHON (default python3), REPEAT (default 3), SUITES (default all three),
# KEEP=1 keeps the temporary directory (server logs, mocha JSON) and prints its path.
# See docs/CONFORMANCE.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
docs=${1:-${GEVENTIO_SUITES:-}}
[ -n "$docs" ] || { echo "usage: $0 /path/to/socket.io-monorepo/docs (or GEVENTIO_SUITES=...)" >&2; exit 2; }
docs=$(cd "$docs" && pwd)
py=${PYTHON:-python3}
repeat=${REPEAT:-3}
suites=${SUITES:-"eio4 eio3 sio5"}

suite_dir() {
  case "$1" in
    eio4) echo "$docs/engine.io-protocol/v4-test-suite" ;;
    eio3) echo "$docs/engine.io-protocol/v3-test-suite" ;;
    sio5) echo "$docs/socket.io-protocol/v5-test-suite" ;;
    *) echo "unknown suite $1 (eio4, eio3, sio5)" >&2; return 2 ;;
  esac
}
server_kind() { case "$1" in sio*) echo sio ;; *) echo eio ;; esac; }

port_open() { "$py" -c 'import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(("127.0.0.1",3000)))' 2>/dev/null; }

work=$(mktemp -d "${TMPDIR:-/tmp}/geventio-conformance.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ "${KEEP:-}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

command -v npm >/dev/null || { echo "npm (Node.js >= 18) is needed to run the suites" >&2; exit 2; }
if port_open; then
  echo "localhost:3000 is already in use; the suites need it" >&2
  exit 1
fi

summary=()
status=0
for suite in $suites; do
  src=$(suite_dir "$suite")
  [ -f "$src/test-suite.js" ] || { echo "no $src/test-suite.js" >&2; exit 2; }
  dir="$work/$suite"
  mkdir -p "$dir"
  (cd "$src" && tar --exclude=node_modules -cf - .) | (cd "$dir" && tar -xf -)
  echo "[$suite] npm ci in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  for run in $(seq 1 "$repeat"); do
    kind=$(server_kind "$suite")
    "$py" "$here/conformance_server.py" "$kind" --log-level INFO >"$work/$suite-server-$run.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do port_open && break; sleep 0.1; done
    port_open || { echo "[$suite] the server did not start; see below" >&2; cat "$work/$suite-server-$run.log" >&2; exit 1; }
    out="$work/$suite-run-$run.json"
    (cd "$dir" && node_modules/.bin/mocha --exit --reporter json --reporter-option "output=$out" \
        test-suite.js >/dev/null 2>"$work/$suite-mocha-$run.err") || true
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    line=$("$py" - "$out" "$suite" "$run" <<'EOF'
import json, sys
path, suite, run = sys.argv[1:]
try:
    report = json.load(open(path))
except (OSError, ValueError) as exc:
    print("%s run %s: no report (%s)" % (suite, run, exc))
    sys.exit(1)
s = report["stats"]
print("%s run %s: %d passed, %d failed, %d pending" % (suite, run, s["passes"], s["failures"], s["pending"]))
for f in report["failures"]:
    print("    FAILED %s: %s" % (f["fullTitle"], (f.get("err") or {}).get("message", "")[:200]))
sys.exit(1 if s["failures"] else 0)
EOF
    ) || status=1
    echo "$line"
    summary+=("$(head -n 1 <<<"$line")")
  done
done

echo
echo "== geventio conformance ($repeat run(s) per suite) =="
printf '%s\n' "${summary[@]}"
exit $status
