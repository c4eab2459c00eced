"""Error and access logging.

Owns nothing itself; it re-exports the names other layers use. `access_format` is the
access-log format language (atoms, escaping, `AccessRecord`, `AccessLog`); `setup` is where
the logs go (handlers, --log-config, per-logger levels, reopening after rotation, captured
output) and `configure(config)`.
"""

from pronghorn.logs.access_format import (
    ACCESS_LOGGER,
    PRESET_FORMATS,
    AccessLog,
    AccessRecord,
    compile_format,
)
from pronghorn.logs.setup import ERROR_LOGGER, Logs, configure

__all__ = [
    "ACCESS_LOGGER",
    "ERROR_LOGGER",
    "PRESET_FORMATS",
    "AccessLog",
    "AccessRecord",
    "Logs",
    "compile_format",
    "configure",
]
