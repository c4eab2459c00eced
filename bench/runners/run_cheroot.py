"""Start cheroot's WSGI server on one application: `python run_cheroot.py module:app HOST PORT`.

Uses cheroot's default thread pool size; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import importlib
import signal
import sys
from types import FrameType

from cheroot import wsgi


def main() -> None:
    target, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    module_name, _, attr = target.partition(":")
    app = getattr(importlib.import_module(module_name), attr or "app")
    server = wsgi.Server((host, port), app)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # unwinds out of serve(); cheroot stops its worker threads

    signal.signal(signal.SIGTERM, on_term)
    server.safe_start()


if __name__ == "__main__":
    main()
