"""Run servers inside the test process on ephemeral 127.0.0.1 ports."""
import contextlib

from gevent.pywsgi import WSGIServer


def make_application(routes, fallback=None, **kwargs):
    """A geventio.Application bound to 127.0.0.1 on a free port, without Flash policy server."""
    import geventio

    options = dict(socket_io_port=0, socket_io_address="127.0.0.1", flash_policy_port=None)
    options.update(kwargs)
    return geventio.Application(routes, fallback=fallback, **options)


@contextlib.contextmanager
def serve(application, stop_timeout=5):
    """Start a geventio.SocketServer for `application`; yield "http://127.0.0.1:PORT"; stop it."""
    import geventio

    server = geventio.SocketServer(application, auto_start=False)
    server.start()
    try:
        host, port = server.address[:2]
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        yield f"http://{host}:{port}"
    finally:
        server.stop(timeout=stop_timeout)


@contextlib.contextmanager
def serve_wsgi(app):
    """Serve a plain WSGI app with gevent's pywsgi; yield "http://127.0.0.1:PORT"; stop it."""
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.stop(timeout=1)
