"""xhr-polling: GET long-polls for a payload, POST sends one."""
from __future__ import annotations

from typing import List, Tuple

from . import common
from .http import Exchange


def _render(payload: str) -> Tuple[str, bytes]:
    return "text/plain; charset=UTF-8", payload.encode("utf-8")


def handle(ex: Exchange) -> List[bytes]:
    if ex.method == "POST":
        return common.post(ex)
    return common.long_poll(ex, _render)
