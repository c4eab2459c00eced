"""An app that reports what the cyclic garbage collector found in its worker.

At import it sets `gc.DEBUG_SAVEALL`, so every object a collection finds unreachable (part
of a reference cycle that reference counting could not free) is kept in `gc.garbage`
instead of freed. `GET /collect` runs a collection and answers with the type names of what
was kept since the last `/collect`, one per line, and forgets them; any other path answers
"ok"."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

gc.set_debug(gc.DEBUG_SAVEALL)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] != "/collect":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    gc.collect()
    kinds = Counter(type(thing).__qualname__ for thing in gc.garbage)
    gc.garbage.clear()
    body = "".join(f"{name} {count}\n" for name, count in sorted(kinds.items())).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
