"""``geventio-serve module:application``: run an Application under SocketServer."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from typing import List, Optional

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
    parser = argparse.ArgumentParser(
        prog="geventio-serve",
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
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"],
                        help="logging level (default: info)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from gevent import monkey
    if not monkey.is_module_patched("socket"):
        monkey.patch_all()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .app import Application
    from .server import SocketServer

    app = load_target(args.target)
    if not isinstance(app, Application):
        app = Application([], fallback=app)
    if args.no_flash_policy:
        policy_port = None
    elif args.flash_policy_port is not None:
        policy_port = args.flash_policy_port
    else:
        policy_port = "default"
    server = SocketServer(app, auto_start=False, host=args.host, port=args.port,
                          flash_policy_port=policy_port)
    try:
        server.start()
    except OSError as exc:
        host, port = server.http.address[:2]
        raise SystemExit("geventio-serve: cannot listen on %s:%s: %s"
                         % (host or "*", port, exc.strerror or exc)) from None
    server.stop_on_signals()
    server.serve_forever()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
