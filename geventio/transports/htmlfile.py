"""htmlfile: one long text/html GET (IE's ActiveX htmlfile) that calls
``parent.s._("payload", document)`` in a <script> per push; POST sends."""
from __future__ import annotations

from typing import Iterable

from . import common
from ..protocol import legacy as codec
from .http import Exchange

PREAMBLE = codec.HTMLFILE_PREAMBLE.encode("ascii")


def _render(payload: str) -> bytes:
    return codec.htmlfile_chunk(payload).encode("utf-8")


def handle(ex: Exchange) -> Iterable[bytes]:
    if ex.method == "POST":
        return common.post(ex)
    return common.stream(ex, "text/html; charset=UTF-8", PREAMBLE, _render)
