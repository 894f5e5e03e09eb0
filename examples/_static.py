"""The examples' static files: their index.html and the socket.io 0.6 browser client.

A tiny WSGI app, given to ``geventio.Application`` as its ``fallback``: everything that is
not a socket.io path lands here. The client script comes from the repository's
``node_modules`` (``npm ci`` installs it); it is never copied into the examples.
"""
import argparse
import logging
import mimetypes
import os
import signal

log = logging.getLogger("examples")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_DIR = os.path.join(REPO_ROOT, "node_modules", "socket.io", "support", "socket.io-client")

#: URL path -> file of the 0.6 client (the SWF is what its flashsocket transport loads)
CLIENT_FILES = {
    "/socket.io.js": os.path.join(CLIENT_DIR, "socket.io.js"),
    "/WebSocketMain.swf": os.path.join(CLIENT_DIR, "lib", "vendor", "web-socket-js",
                                       "WebSocketMain.swf"),
}


def client_missing_message():
    """None when the 0.6 client is installed, else what to do about it."""
    path = CLIENT_FILES["/socket.io.js"]
    if os.path.exists(path):
        return None
    return ("The socket.io 0.6 browser client is missing (%s).\n"
            "Run `npm ci` in %s to install it.\n" % (path, REPO_ROOT))


def static_app(directory, index="index.html"):
    """A WSGI app serving ``directory/index`` at ``/`` and the 0.6 client files."""
    index_path = os.path.join(directory, index)

    def app(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        if method not in ("GET", "HEAD"):
            return _respond(start_response, method, "405 Method Not Allowed",
                            "text/plain; charset=utf-8", b"GET or HEAD only\n",
                            [("Allow", "GET, HEAD")])
        if path in ("/", "/" + index):
            return _send_file(start_response, method, index_path)
        if path in CLIENT_FILES:
            missing = client_missing_message()
            if missing and path == "/socket.io.js":
                return _respond(start_response, method, "500 Internal Server Error",
                                "text/plain; charset=utf-8", missing.encode("utf-8"))
            return _send_file(start_response, method, CLIENT_FILES[path])
        if path == "/favicon.ico":
            start_response("204 No Content", [])
            return []
        return _respond(start_response, method, "404 Not Found",
                        "text/plain; charset=utf-8", b"not found\n")

    return app


def _send_file(start_response, method, path):
    try:
        with open(path, "rb") as fh:
            body = fh.read()
    except OSError:
        return _respond(start_response, method, "404 Not Found", "text/plain; charset=utf-8",
                        ("%s is missing\n" % os.path.basename(path)).encode("utf-8"))
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return _respond(start_response, method, "200 OK", content_type, body)


def _respond(start_response, method, status, content_type, body, headers=()):
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-cache")] + list(headers))
    return [] if method == "HEAD" else [body]


def run(application, name, how_to_use, argv=None):
    """The examples' command line: ``[--host H] [--port N]``, logging, Ctrl-C / SIGTERM
    close every session (their on_close runs) and exit 0."""
    import gevent
    import geventio

    parser = argparse.ArgumentParser(description="geventio %s example" % name)
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8001)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    missing = client_missing_message()
    if missing:
        log.warning("%s", missing.strip())
    server = geventio.SocketServer(application, auto_start=False, host=args.host, port=args.port)
    server.start()
    host, port = server.address[:2]
    log.info("%s: %s http://%s:%d/", name.capitalize(), how_to_use,
             host if host not in ("", "0.0.0.0") else "127.0.0.1", port)
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, server.stop)
    server.serve_forever()
