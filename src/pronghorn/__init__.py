"""pronghorn: a fast, strict HTTP/1.1 server for WSGI applications and static files.

`pronghorn.serve(app, ...)` runs the server from Python (`pronghorn.api`); it is imported on
first use, so `import pronghorn.http` and the command's `--help` load nothing more.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pronghorn.api import serve

if os.environ.get("PRONGHORN_PURE") == "1":
    # Before any compiled module can import: their Python sources load instead (pronghorn.build).
    from pronghorn.build import prefer_pure_sources

    prefer_pure_sources()

__version__ = "0.1.0"
__all__ = ["__version__", "serve"]


def __getattr__(name: str) -> object:
    if name == "serve":
        from pronghorn.api import serve

        return serve
    raise AttributeError(f"module 'pronghorn' has no attribute {name!r}")
