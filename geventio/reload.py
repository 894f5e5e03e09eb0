"""``geventio-serve --reload``: restart the server when the application's files change.

For development only. This parent process never imports the application: it runs the
real server as a child (the same command line without ``--reload``), polls the
modification times of the Python files under the application's directory (its package's
directory for a ``package.module`` target), and on a change stops the child gracefully
(SIGTERM: the server closes every session, so every ``on_close`` runs) and starts a new
one. A child that exits on its own (an import error, a syntax error) is logged and the
next change starts another. No dependency: plain polling, no inotify.

The child exits when the reloader dies, even by SIGKILL (which the reloader cannot
handle): the reloader passes its pid (``--reloader-pid``) and the child calls
:func:`exit_with_parent`, which asks Linux for a SIGTERM on the parent's death
(``prctl(PR_SET_PDEATHSIG)``) and elsewhere watches ``os.getppid()``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

log = logging.getLogger(__name__)

#: directories never watched (caches, VCS, virtualenvs, JavaScript dependencies)
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", ".git", ".hg",
                       ".tox", ".venv", "venv", ".mypy_cache", ".pytest_cache"})

Snapshot = Dict[str, Tuple[int, int]]

#: Linux's prctl option: the signal a process gets when its parent dies
PR_SET_PDEATHSIG = 1
#: seconds between two looks at os.getppid() where prctl is not available
PARENT_POLL_INTERVAL = 0.5


def watched_root(target: str, cwd: Optional[str] = None) -> str:
    """The directory whose Python files the reloader watches for ``module:app`` or
    ``path/file.py:app``: the file's directory, or the top-level package's directory (the
    module's directory for a top-level module), found without importing anything."""
    cwd = cwd or os.getcwd()
    spec_target = target.rpartition(":")[0] or target
    if spec_target.endswith(".py") or os.sep in spec_target:
        return os.path.dirname(os.path.abspath(os.path.join(cwd, spec_target)))
    top = spec_target.split(".")[0]
    sys.path.insert(0, cwd)
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    finally:
        sys.path.remove(cwd)
    if spec is not None and spec.submodule_search_locations:
        return os.path.abspath(list(spec.submodule_search_locations)[0])
    if spec is not None and spec.origin and os.path.isfile(spec.origin):
        return os.path.dirname(os.path.abspath(spec.origin))
    return os.path.abspath(cwd)


def snapshot(root: str) -> Snapshot:
    """path -> (mtime in ns, size) of every ``.py`` file under ``root`` (hidden
    directories, caches and virtualenvs left out)."""
    found: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                       and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))]
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # removed between the listing and the stat
                found[path] = (st.st_mtime_ns, st.st_size)
    return found


def changed(before: Snapshot, after: Snapshot) -> List[str]:
    """The files added, removed or modified between two snapshots."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


class Reloader:
    """Runs ``command`` as a child and restarts it whenever a file under ``root`` changes."""

    def __init__(self, command: List[str], root: str, interval: float = 0.5,
                 stop_timeout: float = 10.0) -> None:
        self.command = command
        self.root = root
        self.interval = interval
        self.stop_timeout = stop_timeout
        self.child: Optional[subprocess.Popen] = None
        self._stopping = False

    def start_child(self) -> None:
        # ``--reloader-pid``: the child exits if this process dies (even by SIGKILL); its
        # own session: a Ctrl-C at the terminal reaches only this parent, which then
        # sends one SIGTERM (a second signal would make the server exit at once, on_close
        # skipped)
        self.child = subprocess.Popen(self.command + ["--reloader-pid", str(os.getpid())],
                                      start_new_session=True)
        log.info("reloader: started the server (pid %d)", self.child.pid)

    def stop_child(self) -> Optional[int]:
        """SIGTERM the child (the server stops gracefully); SIGKILL after stop_timeout."""
        child, self.child = self.child, None
        if child is None:
            return None
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                return child.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("reloader: the server (pid %d) did not stop within %s s; "
                            "killing it", child.pid, self.stop_timeout)
                child.kill()
        return child.wait()

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def run(self) -> int:
        """Until SIGINT or SIGTERM: start, watch, restart. Returns the exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT,
                                                                  signal.SIGTERM)}
        log.warning("reloader: watching the Python files under %s (--reload is for "
                    "development only)", self.root)
        try:
            files = snapshot(self.root)
            self.start_child()
            reported = False
            while not self._stopping:
                time.sleep(self.interval)
                child = self.child
                if child is not None and child.poll() is not None and not reported:
                    log.error("reloader: the server exited with code %s; waiting for a "
                              "file to change", child.returncode)
                    reported = True
                now = snapshot(self.root)
                diff = changed(files, now)
                if not diff or self._stopping:
                    continue
                files = now
                log.info("reloader: %s changed; restarting", ", ".join(
                    os.path.relpath(p, self.root) for p in diff[:5]))
                self.stop_child()
                self.start_child()
                reported = False
            return 0
        finally:
            self.stop_child()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


# -- the child's side: exit when the reloader is gone ------------------------------------

def parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies (the thread that
    started it, here the reloader's only one). False where prctl is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent_pid: int, on_gone: Callable[[], None],
                 interval: float = PARENT_POLL_INTERVAL) -> object:
    """Call ``on_gone()`` once, from a greenlet polling ``os.getppid()`` every ``interval``
    seconds, when this process's parent is no longer ``parent_pid`` (it died: the process
    was re-parented). Returns the greenlet."""
    import gevent

    def watch() -> None:
        while os.getppid() == parent_pid:
            gevent.sleep(interval)
        on_gone()
    return gevent.spawn(watch)


def _terminate_self() -> None:
    log.warning("reloader: the reloader process is gone; stopping the server")
    os.kill(os.getpid(), signal.SIGTERM)


def exit_with_parent(parent_pid: int) -> str:
    """In the reloader's child: get SIGTERM (a graceful stop) when the reloader dies.
    Returns how: ``"prctl"`` (Linux) or ``"poll"`` (a greenlet watching os.getppid())."""
    if parent_death_signal(signal.SIGTERM):
        how = "prctl"
    else:
        watch_parent(parent_pid, _terminate_self)
        how = "poll"
    if os.getppid() != parent_pid:  # it died before the request took effect
        _terminate_self()
    return how
