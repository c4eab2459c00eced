"""The `pronghorn` command.

Owns: the order of start-up and the exit codes. argv + environment + config file -> Config
(mistakes: message on stderr, exit 2), `--help` / `--version`, logging, loading the app
(failure: exit 3; with --static and no APP there is no app), then either a supervisor
(`pronghorn.supervisor.Master`, the default, even with -w 1) or, with --single-process,
`pronghorn.io.serve` in this process. Their return value is the exit status.
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
    arguments = tuple(sys.argv[1:] if argv is None else argv)
    launch_cwd = os.getcwd()
    try:
        command_line = parse_command_line(arguments)
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
        for warning in config.extras.warnings:
            logs.error.warning("%s", warning)
        if not config.single_process:
            return _supervise(config, logs, arguments, launch_cwd)
        if config.umask is not None:
            os.umask(config.umask)  # one process: it is the worker
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


def _supervise(config: Config, logs: Logs, arguments: tuple[str, ...], launch_cwd: str) -> int:
    """Run the master. The app is imported here only with --preload; otherwise each worker
    imports it after the fork, which is what lets a reload pick up new code."""
    from pronghorn.supervisor import Launch, Master
    from pronghorn.supervisor.privileges import resolve

    def reconfigure() -> Config:
        # The config file and relative paths are read as at start, whatever --chdir did.
        here = os.getcwd()
        os.chdir(launch_cwd)
        try:
            return build_config(parse_command_line(arguments), os.environ)
        finally:
            os.chdir(here)

    try:
        privileges = resolve(config)  # before --preload runs any of the app's code
    except ConfigError as exc:
        logs.error.error("%s", exc)
        if config.error_logfile != "-":
            sys.stderr.write(f"pronghorn: error: {exc}\n")
        return EXIT_USAGE
    try:
        apply_search_path(config.chdir, config.pythonpath)
        app = _import(config) if config.preload else None
    except AppLoadError as exc:
        _report_load_error(config, logs, exc)
        return EXIT_APP_LOAD
    launch = Launch(arguments, launch_cwd, _import, reconfigure)
    return Master(config, logs, launch, preloaded=app, privileges=privileges).run()


def _import(config: Config) -> WSGIApplication | None:
    return None if config.app is None else import_app(config.app)


def load(config: Config) -> WSGIApplication | None:
    """Apply --chdir/--pythonpath and import the app; None when only static files are served."""
    apply_search_path(config.chdir, config.pythonpath)
    return None if config.app is None else import_app(config.app)


def _report_load_error(config: Config, logs: Logs, exc: AppLoadError) -> None:
    logs.error.error("cannot load the application %s: %s", config.app, exc)
    if config.error_logfile != "-":
        sys.stderr.write(f"pronghorn: cannot load the application {config.app}: {exc}\n")
