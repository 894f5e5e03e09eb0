#!/usr/bin/env bash
# The one command for geventio's tests: installs what is missing, then runs pytest.
#
#   bash scripts/test.sh                  # the whole suite (tests/)
#   bash scripts/test.sh -k chat -x       # any pytest arguments pass through
#   bash scripts/test.sh tests/test_x.py  # given paths replace tests/
#
# Installs: the package with its `test` extra (pip install -e '.[test]'), the Node peers
# (npm ci: socket.io clients, node socket.io 4.8 with @socket.io/redis-adapter and -emitter)
# and, when missing, Debian's chromium, redis-server, haproxy and nginx (apt-get; sudo if not root).
# The tests start their own redis-server, haproxy and nginx on free ports; system ones are never used.
# Each step is skipped when its inputs have not changed since it last succeeded, so a second
# run goes straight to pytest. Needs Python 3.11 and Node.js >= 20.
# Environment: PYTHON (interpreter to use; default python3), CHROMIUM_PATH (default /usr/bin/chromium),
# REDIS_SERVER (default /usr/bin/redis-server).
set -euo pipefail

cd "$(dirname "$0")/.."
stamps=build/test-stamps   # build/ is git-ignored
mkdir -p "$stamps"

say() { printf '[test.sh] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: cannot apt-get install $*"
  sudo_cmd=(sudo)
fi
apt_updated=
apt_install() {
  say "apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for a concurrent apt/dpkg run instead of failing on its lock.
  if [ -z "$apt_updated" ]; then
    "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    apt_updated=1
  fi
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" >/dev/null
}
fingerprint() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1; }

# --- Python: the package and its test extra -------------------------------------------------
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=.venv/bin/python
  elif command -v python3 >/dev/null; then py=python3
  elif command -v python >/dev/null; then py=python
  else apt_install python3 python3-venv; py=python3
  fi
fi
# Debian's system Python refuses pip installs (PEP 668): use a virtualenv in .venv instead.
if "$py" -c 'import sys, sysconfig, os; sys.exit(not (sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'; then
  say "$py is externally managed; using a virtualenv in .venv"
  "$py" -m venv .venv 2>/dev/null || { apt_install python3-venv; rm -rf .venv; "$py" -m venv .venv; }
  py=.venv/bin/python
fi
py_key=$(printf '%s\n' "$("$py" -c 'import sys; print(sys.executable)')" "$(fingerprint setup.py setup.cfg pyproject.toml)" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamps/python" 2>/dev/null)" != "$py_key" ] ||
   ! "$py" -c 'import importlib.metadata as m; m.version("geventio"); m.version("pytest-timeout")' 2>/dev/null; then
  say "pip install -e '.[test]'"
  PIP_ROOT_USER_ACTION=ignore "$py" -m pip install -q --disable-pip-version-check -e '.[test]'
  echo "$py_key" >"$stamps/python"
fi

# --- Node.js peers: socket.io clients and playwright-core ------------------------------------
if ! command -v node >/dev/null; then apt_install nodejs; fi
if ! command -v npm >/dev/null; then apt_install npm; fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is needed (playwright-core); found $(node --version). Install a newer nodejs (e.g. from NodeSource)."
lock_key=$(fingerprint package.json package-lock.json)
if [ "$(cat node_modules/.geventio-lock 2>/dev/null)" != "$lock_key" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_key" >node_modules/.geventio-lock
fi

# --- Chromium for the browser tests (never `npx playwright install`) --------------------------
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  apt_install chromium
fi

# --- HAProxy for the load-balancer tests (tests/test_haproxy.py) ------------------------------
if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  apt_install haproxy
fi

# --- nginx for the load-balancer tests (tests/test_nginx.py) ---------------------------------
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  apt_install nginx
fi

# --- redis-server for the cluster tests (each test run starts its own on a free port) -------
if [ ! -x "${REDIS_SERVER:-/usr/bin/redis-server}" ]; then
  apt_install redis-server
fi

# --- The suite ------------------------------------------------------------------------------
has_path=
for arg in "$@"; do
  case "$arg" in tests|tests/*|./tests*) has_path=1 ;; esac
done
if [ -n "$has_path" ]; then
  exec "$py" -m pytest "$@"
fi
exec "$py" -m pytest tests "$@"
