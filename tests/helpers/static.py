"""A tiny WSGI app serving test pages from memory and client scripts from node_modules."""
import mimetypes
import os

from . import NODE_MODULES

# URL path -> file under node_modules: the real clients a test page can load.
CLIENT_SCRIPTS = {
    "/socket.io.js": "socket.io/support/socket.io-client/socket.io.js",
    "/WebSocketMain.swf":
        "socket.io/support/socket.io-client/lib/vendor/web-socket-js/WebSocketMain.swf",
    "/socket.io.v4.js": "socket.io-client/dist/socket.io.js",
    "/socket.io.v2.js": "socket.io-client-v2/dist/socket.io.js",
}


def _respond(start_response, status, content_type, body, method):
    start_response(status, [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ])
    return [] if method == "HEAD" else [body]


def static_app(pages=None, files=None):
    """Return a WSGI app serving `pages` ({path: (content_type, bytes or str)}) from memory
    and `files` ({path: file path relative to node_modules}, default CLIENT_SCRIPTS).

    /favicon.ico answers 204 so browsers log no error for it; anything else is 404.
    """
    pages = {
        path: (ctype, body.encode("utf-8") if isinstance(body, str) else body)
        for path, (ctype, body) in (pages or {}).items()
    }
    files = CLIENT_SCRIPTS if files is None else files

    def app(environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        if method not in ("GET", "HEAD"):
            return _respond(start_response, "405 Method Not Allowed", "text/plain",
                            b"method not allowed\n", method)
        if path in pages:
            ctype, body = pages[path]
            return _respond(start_response, "200 OK", ctype, body, method)
        if path in files:
            full = os.path.join(NODE_MODULES, files[path])
            try:
                with open(full, "rb") as fh:
                    body = fh.read()
            except FileNotFoundError:
                body = f"{full} is missing; run npm ci\n".encode()
                return _respond(start_response, "404 Not Found", "text/plain", body, method)
            ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
            return _respond(start_response, "200 OK", ctype, body, method)
        if path == "/favicon.ico":
            start_response("204 No Content", [("Cache-Control", "no-store")])
            return []
        return _respond(start_response, "404 Not Found", "text/plain", b"not found\n", method)

    return app
