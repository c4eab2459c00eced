"""The `pronghorn` command.

Owns: the order of start-up and the exit codes. argv + environment + config file -> Config
(mistakes: message on stderr, exit 2), `--help` / `--version`, logging, loading the app
(failure: exit 3; with --static and no APP there is no app), then `pronghorn.io.serve`, whose
return value is the exit status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pronghorn import __version__
from pronghorn.config import build_config, help_text, parse_command_line
from pronghorn.config.model import Config
from pronghorn.errors import EXIT_APP_LOAD, EXIT_OK, EXIT_USAGE, AppLoadError, ConfigError
from pronghorn.loader import apply_search_path, import_app
from pronghorn.logs import Logs, configure

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def main(argv: Sequence[str] | None = None) -> int:
    """Run pronghorn with `argv` (default: sys.argv[1:]); return the process exit status."""
    try:
        command_line = parse_command_line(sys.argv[1:] if argv is None else argv)
        if command_line.show_help:
            sys.stdout.write(help_text())
            return EXIT_OK
        if command_line.show_version:
            sys.stdout.write(f"pronghorn {__version__}\n")
            return EXIT_OK
        config = build_config(command_line, os.environ)
        logs = configure(config)
    except ConfigError as exc:
        sys.stderr.write(f"pronghorn: error: {exc}\nRun 'pronghorn --help' for the options.\n")
        return EXIT_USAGE
    try:
        try:
            app = load(config)
        except AppLoadError as exc:
            _report_load_error(config, logs, exc)
            return EXIT_APP_LOAD
        # Imported here so the command (and --help) works before the I/O layer is importable.
        from pronghorn.io import serve

        return serve(config, app, logs)
    finally:
        logs.close()


def load(config: Config) -> WSGIApplication | None:
    """Apply --chdir/--pythonpath and import the app; None when only static files are served."""
    apply_search_path(config.chdir, config.pythonpath)
    return None if config.app is None else import_app(config.app)


def _report_load_error(config: Config, logs: Logs, exc: AppLoadError) -> None:
    logs.error.error("cannot load the application %s: %s", config.app, exc)
    if config.error_logfile != "-":
        sys.stderr.write(f"pronghorn: cannot load the application {config.app}: {exc}\n")
