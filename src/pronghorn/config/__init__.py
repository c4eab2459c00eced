"""Settings: the typed, frozen `Config` and how it is read from argv, environment and file.

Owns nothing itself; it re-exports the names other layers use. See `registry` for the one
declaration per setting, `sources` for precedence and `model` for the fields.
"""

from pronghorn.config.address import BindAddress, FdAddress, TcpAddress, UnixAddress, parse_bind
from pronghorn.config.arguments import CommandLine, help_text, parse_command_line
from pronghorn.config.model import Config, StaticMount
from pronghorn.config.sources import build_config, load_config

__all__ = [
    "BindAddress",
    "CommandLine",
    "Config",
    "FdAddress",
    "StaticMount",
    "TcpAddress",
    "UnixAddress",
    "build_config",
    "help_text",
    "load_config",
    "parse_bind",
    "parse_command_line",
]
