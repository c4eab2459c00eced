"""The `pronghorn` command.

Owns: the order of start-up and the exit codes. argv + environment + config file -> Config
(mistakes: message on stderr, exit 2), `--help` / `--version`, `--print-config` /
`--check-config` (which stop there), --env, logging, loading the app
(failure: exit 3; with --static and no APP there is no app), then either a supervisor
(`pronghorn.supervisor.Master`, the default, even with -w 1) or, with --single-process,
`pronghorn.io.serve` in this process. Their return value is the exit status. `run`, the
part after the Config is built, is shared with `pronghorn.serve()` (`pronghorn.api`).
`pronghorn top ...` is another command altogether (`pronghorn.top`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pronghorn import __version__
from pronghorn.build import running_build
from pronghorn.config import CommandLine, build_config, help_text, parse_command_line
from pronghorn.config.model import Config
from pronghorn.config.printing import config_as_toml
from pronghorn.config.sources import GUNICORN_ARGS_VAR
from pronghorn.errors import EXIT_APP_LOAD, EXIT_OK, EXIT_USAGE, AppLoadError, ConfigError
from pronghorn.loader import apply_environment, apply_search_path, import_app
from pronghorn.logs import Logs, configure
from pronghorn.logs.setup import read_log_config

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def main(argv: Sequence[str] | None = None) -> int:
    """Run pronghorn with `argv` (default: sys.argv[1:]); return the process exit status."""
    arguments = tuple(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ("top",):
        # A command of its own, not a server: a module named top is served as `top:app`.
        from pronghorn.top import main as top

        return top(arguments[1:])
    launch_cwd = os.getcwd()
    try:
        command_line = parse_command_line(arguments)
        if command_line.show_help:
            sys.stdout.write(help_text())
            return EXIT_OK
        if command_line.show_version:
            sys.stdout.write(f"pronghorn {__version__} ({running_build()} build)\n")
            return EXIT_OK
        config = build_config(command_line, os.environ)
        if command_line.check_config or command_line.print_config:
            return _inspect(config, command_line)
        logs = configure(config)
    except ConfigError as exc:
        _usage_error(exc)
        return EXIT_USAGE
    _log_sources(config, logs)

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


def _log_sources(config: Config, logs: Logs) -> None:
    """Say where settings came from besides the command line: one line for the config file
    (which may have been found in the working directory), one for GUNICORN_CMD_ARGS."""
    if config.config:
        logs.error.info("Config file: %s", os.path.abspath(config.config))
    gunicorn_arguments = os.environ.get(GUNICORN_ARGS_VAR, "").strip()
    if gunicorn_arguments:
        logs.error.info("Settings from %s: %s", GUNICORN_ARGS_VAR, gunicorn_arguments)


def _usage_error(exc: ConfigError) -> None:
    sys.stderr.write(f"pronghorn: error: {exc}\nRun 'pronghorn --help' for the options.\n")


def _inspect(config: Config, command_line: CommandLine) -> int:
    """--print-config and --check-config: print the settings, or check that the server
    could start (the user and group exist and may be switched to, the application imports
    with --env set); bind nothing, start nothing. The exit status says which went wrong."""
    if command_line.print_config:
        sys.stdout.write(config_as_toml(config))
    for warning in config.extras.warnings:
        sys.stderr.write(f"pronghorn: warning: {warning}\n")
    if not command_line.check_config:
        return EXIT_OK
    if not config.single_process:
        from pronghorn.supervisor.privileges import resolve

        resolve(config)  # a ConfigError: exit 2, as for any other setting
    read_log_config(config)  # the file is there and parses; applying it would change logging
    apply_environment(config.raw_env)
    try:
        apply_search_path(config.chdir, config.pythonpath)
        _import(config)
    except AppLoadError as exc:
        sys.stderr.write(f"pronghorn: cannot load the application {config.app}: {exc}\n")
        return EXIT_APP_LOAD
    what = f"the application {config.app} imports" if config.app else "no application"
    sys.stdout.write(f"pronghorn: the configuration is valid; {what}\n")
    return EXIT_OK


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
    _check_titles(config, logs)
    apply_environment(config.raw_env)  # before anything imports the application
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


def _check_titles(config: Config, logs: Logs) -> None:
    """Warn when --proc-name cannot be honoured; name this process under --single-process
    (under a master, the master and each worker name themselves)."""
    # Imported here: importing the supervisor package brings in the whole server.
    from pronghorn.supervisor.title import INSTALL_HINT, can_set_titles, set_title, title_name

    if config.proc_name and not can_set_titles():
        logs.error.warning(
            "--proc-name %s: process titles need setproctitle (%s)", config.proc_name, INSTALL_HINT
        )
    if config.single_process:
        set_title(f"pronghorn: [{title_name(config)}]")


def _given(app: WSGIApplication) -> Callable[[Config], WSGIApplication | None]:
    return lambda config: app


def _import(config: Config) -> WSGIApplication | None:
    return None if config.app is None else import_app(config.app)


def _report_load_error(config: Config, logs: Logs, exc: AppLoadError) -> None:
    logs.error.error("cannot load the application %s: %s", config.app, exc)
    if config.error_logfile != "-":
        sys.stderr.write(f"pronghorn: cannot load the application {config.app}: {exc}\n")
