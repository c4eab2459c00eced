"""Root exception types and process exit codes.

Owns: the exceptions that cross layer boundaries and the exit codes the `pronghorn` command
returns. Every layer may import this module; it imports nothing from pronghorn.
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
"""Clean shutdown."""
EXIT_FAILURE: Final = 1
"""The server failed while running (could not bind, a worker kept dying, ...)."""
EXIT_USAGE: Final = 2
"""Bad command line, environment or config file (the same code argparse uses)."""
EXIT_APP_LOAD: Final = 3
"""The application could not be imported or is not a WSGI callable."""


class PronghornError(Exception):
    """Base of every error pronghorn raises on purpose; the message is for the operator."""


class ConfigError(PronghornError):
    """A setting is unknown, malformed or out of range. The message names the option."""


class AppLoadError(PronghornError):
    """The application named on the command line could not be loaded."""
