"""Real socket.io clients in node for the Admin UI tests (tests/js/admin/client.js).

``NodeClients`` runs one node process holding any number of named clients: the admin client
(socket.io-client 4.x on the admin namespace, as the UI connects) and ordinary 4.x / 2.x
clients. Every event a client receives is recorded as ``[event, *args]``::

    with NodeClients() as node:
        node.connect("admin", base, "/admin", auth={"username": "u", "password": "p"})
        [[_, stats]] = node.wait_for("admin", "server_stats")
"""
from typing import Any, Dict, List, Optional, Sequence

from .cluster import NodeProcess


class NodeClients(NodeProcess):
    """tests/js/admin/client.js: named socket.io clients in one node process."""

    script = "../admin/client.js"

    def __init__(self) -> None:
        super().__init__({})

    def connect(self, name: str, url: str, nsp: str = "", auth: Optional[Dict[str, Any]] = None,
                version: int = 4, transports: Sequence[str] = ("polling", "websocket")
                ) -> Dict[str, Any]:
        """Connect client ``name`` to ``url + nsp``: ``{"id": ...}`` or ``{"error": message}``."""
        return self.call("connect", name=name, url=url, nsp=nsp, auth=auth or {},
                         version=version, transports=list(transports))

    def received(self, name: str) -> List[List[Any]]:
        return self.call("received", name=name)

    def wait_for(self, name: str, event: str, count: int = 1, timeout: float = 10.0,
                 match: Optional[str] = None) -> List[List[Any]]:
        """The first ``count`` ``[event, *args]`` entries of client ``name`` (those whose JSON
        contains ``match``), waiting up to ``timeout`` s for them."""
        return self.call("waitFor", wait=timeout + 10, name=name, event=event, count=count,
                         timeout=int(timeout * 1000), match=match)

    def emit(self, name: str, event: str, *args: Any) -> None:
        self.call("emit", name=name, event=event, args=list(args))

    def state(self, name: str) -> Dict[str, Any]:
        return self.call("state", name=name)

    def close_client(self, name: str) -> None:
        self.call("close", name=name)

    def bcrypt(self, password: str) -> str:
        """A bcrypt hash of ``password`` made by bcryptjs (what node's admin-ui takes)."""
        return self.call("bcrypt", password=password)
