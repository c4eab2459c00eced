"""Start bjoern on one application: `python run_bjoern.py module:app HOST PORT`."""

from __future__ import annotations

import importlib
import sys

import bjoern


def main() -> None:
    target, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    module_name, _, attr = target.partition(":")
    app = getattr(importlib.import_module(module_name), attr or "app")
    bjoern.run(app, host, port)


if __name__ == "__main__":
    main()
