"""jsonp-polling: GET answers ``io.JSONP[i]._("payload");`` for a <script> tag; POST comes
from a hidden form. The index is the last numeric path segment, digits only."""
from __future__ import annotations

from typing import List

from . import common
from ..protocol import legacy as codec
from .http import Exchange, HTTPError

MAX_INDEX_DIGITS = 6


def jsonp_index(ex: Exchange) -> int:
    """The client's io.JSONP index: the last path segment, which must be digits."""
    segments = [s for s in ex.tail if s != ""]
    if not segments:
        return 0
    last = segments[-1]
    if not (last.isascii() and last.isdigit()) or len(last) > MAX_INDEX_DIGITS:
        raise HTTPError("400 Bad Request", "the JSONP index must be digits")
    return int(last)


def handle(ex: Exchange) -> List[bytes]:
    if ex.method == "POST":
        return common.post(ex, form_crlf=True)
    index = jsonp_index(ex)

    def render(payload: str):
        return ("text/javascript; charset=UTF-8",
                codec.jsonp_body(index, payload).encode("utf-8"))
    return common.long_poll(ex, render)
