"""``geventio-serve module:application``: run an Application under SocketServer."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from typing import Any, List, Optional

log = logging.getLogger(__name__)


def load_target(spec: str):
    """Import ``module:attr`` or ``path/to/file.py:attr`` and return the attribute.

    A problem with the target itself (no colon, no such file or module, no such
    attribute, not callable) exits with a one-line reason; an error raised by the
    module's own code while it is imported keeps its traceback.
    """
    if ":" not in spec:
        raise SystemExit("geventio-serve: expected module:application or file.py:application, "
                         "got %r" % spec)
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py") or os.sep in target:
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise SystemExit("geventio-serve: no such file %s" % path)
        sys.path.insert(0, os.path.dirname(path))
        name = os.path.splitext(os.path.basename(path))[0]
        if name in sys.modules:
            name = "geventio_target_" + name
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError("cannot load %s as a module" % path)
        module = importlib.util.module_from_spec(module_spec)
        # Registered first, as `import` does: dataclasses, pickle and typing look classes'
        # modules up in sys.modules.
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (target == exc.name or target.startswith(exc.name + ".")):
                raise  # the module was found; something it imports was not
            raise SystemExit("geventio-serve: no module named %r (looked in %s and on "
                             "sys.path)" % (exc.name, os.getcwd())) from None
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise SystemExit("geventio-serve: %s has no attribute %r" % (target, attr)) from None
    if not callable(app):
        raise SystemExit("geventio-serve: %s:%s is not a WSGI application (got %r)"
                         % (target, attr, type(app).__name__))
    return app


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: a prefix such as --rel is refused, not taken for --reload (the
    # reloader removes the exact "--reload" from its child's command line)
    parser = argparse.ArgumentParser(
        prog="geventio-serve", allow_abbrev=False,
        description="Serve a geventio Application (or any WSGI app) with gevent. The host, "
                    "port and Flash policy port default to the Application's settings.")
    parser.add_argument("target", help="module:application or path/to/file.py:application")
    parser.add_argument("--host", default=None, help="address to listen on (default: the "
                        "application's socket_io_address, or all interfaces)")
    parser.add_argument("--port", type=int, default=None,
                        help="HTTP port (default: the application's socket_io_port, or 8001)")
    parser.add_argument("--flash-policy-port", type=int, default=None,
                        help="Flash policy port (default: the application's "
                        "flash_policy_port, 843); 0 picks a free port")
    parser.add_argument("--no-flash-policy", action="store_true",
                        help="do not start the separate Flash policy server")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="run N worker processes behind the one port; every request of "
                        "a session reaches the worker that owns it (needs --message-queue, "
                        "or --no-message-queue, when the application has routers)")
    parser.add_argument("--message-queue", default=None, metavar="URL",
                        help="give routers made without an adapter a cluster adapter for URL "
                        "(redis://host:port/db), so broadcasts reach every process")
    parser.add_argument("--no-message-queue", action="store_true",
                        help="with --workers: run without a message queue although the "
                        "application has routers (broadcasts and rooms stay within each "
                        "worker: only for applications that never broadcast)")
    parser.add_argument("--reload", action="store_true",
                        help="development only: restart the server whenever a Python file "
                        "under the application's directory (or package) changes")
    parser.add_argument("--reloader-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"],
                        help="logging level (default: info)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.reload:
        if args.workers is not None:
            parser.error("--reload cannot be used with --workers: the reloader runs one "
                         "server process, for development; drop one of them")
        return _reload(args, argv)
    from gevent import monkey
    if not monkey.is_module_patched("socket"):
        monkey.patch_all()
    if args.reloader_pid is not None:
        from .reload import exit_with_parent
        exit_with_parent(args.reloader_pid)
    workers = args.workers is not None
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s"
                               + ("[%(process)d]" if workers else "") + ": %(message)s")
    if workers and not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    if workers and args.worker_fd is None:
        return _supervise(args, argv)
    from . import message_queue
    from .app import Application
    from .server import SocketServer

    if workers:
        from .session import tag_session_ids
        from .sticky import tag
        tag_session_ids(tag(args.worker_index))
    message_queue.set_default(args.message_queue)
    app = load_target(args.target)
    if not isinstance(app, Application):
        app = Application([], fallback=app)
    if workers:
        _refuse_local_broadcasts(app, args)
    if args.no_flash_policy or (workers and args.worker_index != 0):
        policy_port = None  # with --workers, worker 0 serves the Flash policy port
    elif args.flash_policy_port is not None:
        policy_port = args.flash_policy_port
    else:
        policy_port = "default"
    server = SocketServer(app, auto_start=False, host=args.host, port=args.port,
                          flash_policy_port=policy_port)
    if workers:
        from .worker import serve_worker
        serve_worker(server, args.worker_fd, args.worker_index, args.workers)
        return 0
    try:
        server.start()
    except OSError as exc:
        host, port = server.http.address[:2]
        raise SystemExit("geventio-serve: cannot listen on %s:%s: %s"
                         % (host or "*", port, exc.strerror or exc)) from None
    server.stop_on_signals()
    server.serve_forever()
    return 0


def _supervise(args: argparse.Namespace, argv: List[str]) -> int:
    """The parent of ``--workers N``: the workers run this command with their index."""
    from .supervisor import Supervisor

    def command(index: int, fd: int) -> List[str]:
        return [sys.executable, "-m", "geventio.cli", *argv,
                "--worker-index", str(index), "--worker-fd", str(fd)]

    return Supervisor(command, args.workers, args.host, args.port).run()


def _reload(args: argparse.Namespace, argv: List[str]) -> int:
    """``--reload``: the reloader runs this command without ``--reload`` as its child."""
    from .reload import Reloader, watched_root
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = [sys.executable, "-m", "geventio.cli", *[a for a in argv if a != "--reload"]]
    return Reloader(command, watched_root(args.target)).run()


def _refuse_local_broadcasts(app: Any, args: argparse.Namespace) -> None:
    """--workers with routers whose broadcasts would stop at their worker: refused."""
    from .adapters import InMemoryAdapter
    if args.no_message_queue:
        return
    local = [router for router in getattr(app, "routers", [])
             if type(router.adapter) is InMemoryAdapter]
    if local:
        raise SystemExit(
            "geventio-serve: --workers %d needs --message-queue URL (e.g. redis://127.0.0.1:"
            "6379/0): the application has routers (%s) whose rooms and broadcasts would "
            "otherwise stay within each worker. Pass --no-message-queue if it never "
            "broadcasts." % (args.workers, ", ".join(repr(r.resource) for r in local)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
