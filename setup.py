"""geventio: a Socket.IO server for Python on gevent."""
from setuptools import find_packages, setup

with open("README.rst", encoding="utf-8") as fh:
    long_description = fh.read()

setup(
    name="geventio",
    version="0.1.0",
    description="A Socket.IO server on gevent: socket.io 0.6 and today's clients from one router",
    long_description=long_description,
    long_description_content_type="text/x-rst",
    packages=find_packages(include=["geventio", "geventio.*"]),
    package_data={"geventio": ["py.typed"]},  # PEP 561: the package's type hints are for users

    python_requires=">=3.9",
    install_requires=[
        "gevent>=23.9,<27",  # the suite passed on 23.9.1 and 26.9.0 (geventio/_gevent_compat.py)
        "gevent-websocket>=0.10.1",
        "simplejson>=3.17",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            # geventio.gunicorn.GeventioWorker's tests start real gunicorn
            "gunicorn>=22",
            "Flask>=2.2",
            # the Flask helpers' login tests (tests/test_flask_login.py) use the real Flask-Login
            "Flask-Login>=0.6.3",
            "Django>=4.2",
            # today's Python client, for tests/test_modern_python_client.py (5.12+: the
            # disconnect handler gets the reason) and its transports
            "python-socketio[client]>=5.12",
            "websocket-client>=1.6",
            # an independent permessage-deflate client (tests/test_deflate_clients.py);
            # python-engineio already pulls it in through simple-websocket
            "wsproto>=1.2",
            "requests>=2.28",
            # property tests of the codecs (tests/test_codec_properties.py)
            "hypothesis>=6",
            # the static checks the suite runs (tests/test_static_checks.py; pyproject.toml)
            "mypy>=1.10",
            "ruff>=0.6",
            # the cluster adapter against a real Redis (tests/test_redis_*.py)
            "redis>=5",
            "msgpack>=1.0",
            # the AMQP adapter against a real RabbitMQ (tests/test_amqp_cluster.py)
            "kombu>=5.3",
            # router.instrument(auth=...) with a bcrypt password hash (tests/test_admin.py)
            "bcrypt>=4",
        ],
        # router.instrument(auth={"type": "basic", ..., "password": <bcrypt hash>})
        "admin": ["bcrypt>=4"],
        # geventio.RedisAdapter: a cluster over Redis, wire-compatible with node's
        "redis": ["redis>=5", "msgpack>=1.0"],
        # geventio.AmqpAdapter: a cluster over RabbitMQ (kombu on py-amqp)
        "amqp": ["kombu>=5.3", "msgpack>=1.0"],
        # scripts/bench.py: the python-socketio peer (gevent mode) and the profiler
        "bench": [
            "python-socketio>=5,<6",
            "python-engineio>=4",
            "gevent-websocket>=0.10.1",
            "py-spy>=0.3",
        ],
    },
    entry_points={"console_scripts": ["geventio-serve = geventio.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: gevent",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Server",
    ],
)
