"""`python -m pronghorn`: the same entry point as the `pronghorn` command."""

from pronghorn.cli import main

raise SystemExit(main())
