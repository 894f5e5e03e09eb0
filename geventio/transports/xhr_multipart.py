"""xhr-multipart: one long ``multipart/x-mixed-replace`` GET carries every payload as a
part; POST sends. (Only Firefox-era browsers with multipart XHR ran it.)"""
from __future__ import annotations

from typing import Iterable

from . import common
from .http import Exchange

CONTENT_TYPE = 'multipart/x-mixed-replace;boundary="socketio"'
PREAMBLE = b"--socketio\n"


def _render(payload: str) -> bytes:
    return (b"Content-Type: text/plain; charset=UTF-8\n\n" + payload.encode("utf-8")
            + b"\n--socketio\n")


def handle(ex: Exchange) -> Iterable[bytes]:
    if ex.method == "POST":
        return common.post(ex)
    return common.stream(ex, CONTENT_TYPE, PREAMBLE, _render)
