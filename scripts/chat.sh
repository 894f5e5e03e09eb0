#!/usr/bin/env bash
# The quick start: install what the chat example needs and run it.
#
#   bash scripts/chat.sh            # http://127.0.0.1:8001/
#   bash scripts/chat.sh 9000       # another port (or PORT=9000)
#   HOST=0.0.0.0 bash scripts/chat.sh   # reachable from other machines
#
# Installs, when missing: this package (pip install -e .; in .venv when the system Python
# refuses pip installs) and the socket.io 0.6 browser client (npm ci, into node_modules/).
# Then serves examples/chatroom until Ctrl-C. Environment: PYTHON (default python3).
set -euo pipefail

cd "$(dirname "$0")/.."
port=${1:-${PORT:-8001}}
host=${HOST:-127.0.0.1}

say() { printf '[chat.sh] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

case "$port" in ''|*[!0-9]*) die "the port must be a number, got '$port'" ;; esac

# --- Python: geventio from this checkout --------------------------------------------------
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=.venv/bin/python
  elif command -v python3 >/dev/null; then py=python3
  elif command -v python >/dev/null; then py=python
  else die "no python3 found; install Python 3.9 or newer"
  fi
fi
# Debian's system Python refuses pip installs (PEP 668): use a virtualenv in .venv instead.
if "$py" -c 'import sys, sysconfig, os; sys.exit(not (sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'; then
  say "$py is externally managed; using a virtualenv in .venv"
  [ -x .venv/bin/python ] || "$py" -m venv .venv || die "cannot create .venv (apt-get install python3-venv)"
  py=.venv/bin/python
fi
here=$(pwd -P)
if ! "$py" -c 'import os, sys, geventio; sys.exit(not os.path.realpath(geventio.__file__).startswith(sys.argv[1] + os.sep))' "$here" 2>/dev/null; then
  say "pip install -e ."
  PIP_ROOT_USER_ACTION=ignore "$py" -m pip install -q --disable-pip-version-check -e . ||
    die "pip install -e . failed"
fi

# --- the socket.io 0.6 browser client -------------------------------------------------------
client=node_modules/socket.io/support/socket.io-client/socket.io.js
if [ ! -f "$client" ]; then
  command -v npm >/dev/null || die "npm is needed to install the browser client (apt-get install npm)"
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  [ -f "$client" ] || die "npm ci did not install $client"
fi

# --- run ------------------------------------------------------------------------------------
say "starting the chatroom on http://$host:$port/ (Ctrl-C stops it)"
exec "$py" examples/chatroom/chatroom.py --host "$host" --port "$port"
