"""The `pronghorn` command.

Owns: the order of start-up and the exit codes. argv + environment + config file -> Config
(mistakes: message on stderr, exit 2), `--help` / `--version`, logging, loading the app
(failure: exit 3; with --static and no APP there is no app), then either a supervisor
(`pronghorn.supervisor.Master`, the default, even with -w 1) or, with --single-process,
`pronghorn.io.serve` in this process. Their return value is the exit status. `run`, the
part after the Config is built, is shared with `pronghorn.serve()` (`pronghorn.api`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

    def reconfigure() -> Config:
        # The config file and relative paths are read as at start, whatever --chdir did.
        here = os.getcwd()
        os.chdir(launch_cwd)
        try:
            return build_config(parse_command_line(arguments), os.environ)
        finally:
            os.chdir(here)

    try:
        return run(config, logs, Start(arguments, launch_cwd, reconfigure))
    finally:
        logs.close()


@dataclass(frozen=True, slots=True)
class Start:
    """How the server was started: what a reload (HUP) re-reads, what an upgrade (USR2)
    re-runs as `python -m pronghorn ARGV` in `cwd`, and the application when it was given as
    an object (`pronghorn.serve`) rather than named by `config.app`."""

    argv: tuple[str, ...] | None  # None: nothing to re-run (an application object)
    cwd: str
    reconfigure: Callable[[], Config]
    app: WSGIApplication | None = None


def run(config: Config, logs: Logs, start: Start) -> int:
    """Serve `config` until stopped: in this process with --single-process, else under a
    master. The app is imported here with --single-process or --preload; otherwise each
    worker imports it after the fork, which is what lets a reload pick up new code. An
    application object is used as it is (the workers inherit it at the fork)."""
    for warning in config.extras.warnings:
        logs.error.warning("%s", warning)
    if config.single_process:
        if config.umask is not None:
            os.umask(config.umask)  # one process: it is the worker
        privileges = None
    else:
        from pronghorn.supervisor.privileges import resolve

        try:
            privileges = resolve(config)  # before --preload runs any of the app's code
        except ConfigError as exc:
            logs.error.error("%s", exc)
            if config.error_logfile != "-":
                sys.stderr.write(f"pronghorn: error: {exc}\n")
            return EXIT_USAGE
    # Certificates are read now, by the user that started the server (a key only root may
    # read works with --user), before any application code runs.
    from pronghorn.io.tls import server_context

    try:
        tls = server_context(config)
    except ConfigError as exc:
        logs.error.error("%s", exc)
        if config.error_logfile != "-":
            sys.stderr.write(f"pronghorn: error: {exc}\n")
        return EXIT_USAGE
    try:
        apply_search_path(config.chdir, config.pythonpath)
        app = start.app
        if app is None and (config.single_process or config.preload):
            app = _import(config)
    except AppLoadError as exc:
        _report_load_error(config, logs, exc)
        return EXIT_APP_LOAD
    if config.single_process:
        # Imported here so the command (and --help) works before the I/O layer is importable.
        from pronghorn.io import serve

        return serve(config, app, logs, tls=tls)
    from pronghorn.supervisor import Launch, Master

    loader = _import if start.app is None else _given(start.app)
    launch = Launch(start.argv, start.cwd, loader, start.reconfigure)
    return Master(config, logs, launch, preloaded=app, privileges=privileges, tls=tls).run()


def _given(app: WSGIApplication) -> Callable[[Config], WSGIApplication | None]:
    return lambda config: app


def _import(config: Config) -> WSGIApplication | None:
    return None if config.app is None else import_app(config.app)


def _report_load_error(config: Config, logs: Logs, exc: AppLoadError) -> None:
    logs.error.error("cannot load the application %s: %s", config.app, exc)
    if config.error_logfile != "-":
        sys.stderr.write(f"pronghorn: cannot load the application {config.app}: {exc}\n")
