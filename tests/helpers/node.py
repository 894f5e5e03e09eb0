"""Run Node scripts that report one line of JSON on stdout."""
import json
import logging
import os
import shutil

from gevent import subprocess

from . import NODE_MODULES, REPO_ROOT

log = logging.getLogger(__name__)


def node_available():
    """True when `node` is on PATH and `npm ci` has filled node_modules."""
    return shutil.which("node") is not None and os.path.isdir(NODE_MODULES)


def run_json(cmd, timeout):
    """Run `cmd` (cwd = repo root) cooperatively; return its last stdout line parsed as JSON.

    Raises RuntimeError when it exits non-zero or prints no JSON, and
    subprocess.TimeoutExpired (after killing it) when it outlives `timeout` seconds.
    """
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.stderr:
        log.debug("%s stderr:\n%s", cmd[1], proc.stderr)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise RuntimeError(f"{cmd[1]} did not end with a JSON line:\n{proc.stdout}") from None


def run_node(script_path, *args, timeout=30):
    """Run `node script_path *args` and return the JSON object it printed last."""
    return run_json(["node", str(script_path), *map(str, args)], timeout)
