"""Logging set-up: where the error and access logs go, and what an operator's config adds.

Owns: the handlers of the stdlib loggers `pronghorn.error` and `pronghorn.access` (stderr,
stdout or a file that can be reopened after log rotation), standard output and error sent
into the error log file (--capture-output), the operator's Python logging configuration
(--log-config, --log-config-dict), per-logger levels (--log-level LOGGER=LEVEL), and
`Logs.reopen()`, which SIGUSR1 calls to reopen every file handler in the process.

`configure(config)` is the only place handlers are installed; calling it again (HUP)
replaces what the previous call installed. The order, which follows gunicorn's (its dictConfig
is merged over its defaults): the error log's level, then the operator's configuration with
`disable_existing_loggers` false unless it says otherwise, then pronghorn's handlers on
whichever of its two loggers that configuration does not name, then LOGGER=LEVEL items.
"""

from __future__ import annotations

import configparser
import json
import logging
import logging.config
import os
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TextIO

from pronghorn.config.model import Config
from pronghorn.errors import ConfigError
from pronghorn.logs.access_format import ACCESS_LOGGER, AccessLog

ERROR_LOGGER = "pronghorn.error"
ERROR_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
ERROR_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


# --- handlers --------------------------------------------------------------------------------


class ReopeningFileHandler(logging.StreamHandler[TextIO]):
    """Appends to a file and can reopen it by name (after logrotate moved it away)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(self._open())

    def _open(self) -> TextIO:
        return open(self.path, "a", encoding="utf-8", errors="backslashreplace")

    def reopen(self) -> None:
        """Open the path again and switch to it; lines in flight go to one file or the other."""
        old = self.setStream(self._open())
        if old is not None:
            old.close()

    def close(self) -> None:
        self.acquire()
        try:
            self.stream.close()
        finally:
            self.release()
        super().close()


class LineFormatter(logging.Formatter):
    """The access log's own handlers' formatter: the line as `AccessLog` made it, which is
    `logging.Formatter("%(message)s")` without its general work (a time test, a mapping
    format, exception and stack checks) for every line."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def reopen_file_handler(handler: logging.FileHandler) -> None:
    """Reopen a stdlib FileHandler (or WatchedFileHandler, RotatingFileHandler...) by name.

    Appends whatever mode it was opened with: after rotation the name is a new, empty file,
    and a handler opened with "w" must not empty a file it just started. A handler that
    delays opening and has not written yet is left to open the new file when it writes."""
    handler.acquire()
    try:
        if handler.stream is None:
            return
        # The handler owns the new file from here on, as it owned the old one.
        stream = open(  # noqa: SIM115
            handler.baseFilename, "a", encoding=handler.encoding, errors=handler.errors
        )
        old = handler.setStream(stream)
        if old is not None:
            old.close()
    finally:
        handler.release()


def _every_handler() -> Iterator[logging.Handler]:
    """Each handler attached to a logger of this process, once."""
    loggers = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    seen: set[int] = set()
    for logger in loggers:
        for handler in logger.handlers:
            if id(handler) not in seen:
                seen.add(id(handler))
                yield handler


def _handler(target: str, standard: TextIO, option: str, name: str) -> logging.Handler:
    if target == "-":
        handler: logging.Handler = logging.StreamHandler(standard)
    else:
        try:
            handler = ReopeningFileHandler(target)
        except OSError as exc:
            raise ConfigError(f"option {option}: cannot open {target}: {exc.strerror}") from None
    handler.set_name(name)
    return handler


def _install(logger: logging.Logger, handler: logging.Handler | None) -> None:
    for old in list(logger.handlers):
        if old.get_name() == logger.name:
            logger.removeHandler(old)
            old.close()
    if handler is not None:
        logger.addHandler(handler)
    logger.propagate = False


@dataclass(frozen=True, slots=True)
class Logs:
    """The configured loggers. `reopen()` is what SIGUSR1 should call."""

    error: logging.Logger
    access: AccessLog
    handlers: tuple[logging.Handler, ...]
    """The handlers pronghorn installed itself (not those of --log-config)."""
    capture: ReopeningFileHandler | None = None
    """--capture-output: the error log file that standard output and error are sent to."""

    def reopen(self) -> None:
        """Reopen every log file of the process by name (after rotation): pronghorn's and
        every FileHandler a --log-config or the application attached to a logger.
        stdout/stderr are left alone, unless they are captured into the error log file:
        then they follow it."""
        for handler in _every_handler():
            if isinstance(handler, ReopeningFileHandler):
                handler.reopen()
            elif isinstance(handler, logging.FileHandler):
                reopen_file_handler(handler)
        if self.capture is not None:
            capture_into(self.capture)

    def error_stream(self) -> TextIO | None:
        """The stream the error log writes to now (`reopen()` replaces a file's)."""
        for handler in self.error.handlers:
            if isinstance(handler, logging.StreamHandler):
                stream: TextIO = handler.stream
                return stream
        return None

    def close(self) -> None:
        """Detach and close the handlers `configure` installed."""
        for logger in (self.error, logging.getLogger(ACCESS_LOGGER)):
            _install(logger, None)


# --- the operator's configuration -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogConfig:
    """An operator's logging configuration, read and checked but not yet applied."""

    source: str
    """What gave it, for messages: `--log-config FILE` or `--log-config-dict`."""
    dictionary: Mapping[str, object] | None = None
    ini_path: str | None = None
    loggers: frozenset[str] = frozenset()
    """The loggers it configures: pronghorn leaves those of its own alone."""


def read_log_config(config: Config) -> LogConfig | None:
    """The --log-config-dict or --log-config of `config`, read; ConfigError if unreadable."""
    if config.log_config_dict is not None:
        return _from_dict(dict(config.log_config_dict), "--log-config-dict")
    if config.log_config is None:
        return None
    path = config.log_config
    source = f"--log-config {path}"
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ConfigError(f"option {source}: cannot read it: {exc.strerror or exc}") from None
    if path.endswith(".toml"):
        try:
            return _from_dict(tomllib.loads(data.decode("utf-8", "replace")), source)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"option {source}: not valid TOML: {exc}") from None
    if path.endswith(".json") or data.lstrip().startswith(b"{"):
        try:
            document = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"option {source}: not valid JSON: {exc}") from None
        return _from_dict(document, source)
    return LogConfig(source, ini_path=path, loggers=_ini_loggers(path, data, source))


def _from_dict(document: object, source: str) -> LogConfig:
    if not isinstance(document, dict):
        raise ConfigError(f"option {source}: expected a dictConfig dictionary (an object)")
    loggers = document.get("loggers", {})
    if not isinstance(loggers, dict):
        raise ConfigError(f"option {source}: 'loggers' must be a dictionary of loggers")
    return LogConfig(source, dictionary=document, loggers=frozenset(map(str, loggers)))


def _ini_loggers(path: str, data: bytes, source: str) -> frozenset[str]:
    """The qualnames of the loggers an ini file configures (fileConfig reads them so)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(data.decode("utf-8"), path)
        keys = parser.get("loggers", "keys")
        names = [key.strip() for key in keys.split(",") if key.strip()]
        return frozenset(
            parser.get(f"logger_{key}", "qualname", fallback="") or "root" for key in names
        )
    except (configparser.Error, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"option {source}: not a logging ini file: {reason}") from None


def apply_log_config(log_config: LogConfig) -> None:
    """Hand `log_config` to logging.config; any error it raises becomes a ConfigError."""
    try:
        if log_config.dictionary is not None:
            dictionary: dict[str, object] = {"version": 1, "disable_existing_loggers": False}
            dictionary |= log_config.dictionary
            logging.config.dictConfig(dictionary)
        elif log_config.ini_path is not None:
            path = os.path.abspath(log_config.ini_path)
            defaults = {"__file__": path, "here": os.path.dirname(path)}
            logging.config.fileConfig(path, defaults, disable_existing_loggers=False)
    except Exception as exc:  # the boundary with logging.config: whatever it raises
        # fileConfig reports a missing ini section as a bare KeyError: say what it is.
        reason = f"no section or key {exc}" if isinstance(exc, KeyError) else str(exc)
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise ConfigError(f"option {log_config.source}: {reason}{cause}") from None


# --- levels ----------------------------------------------------------------------------------


def split_levels(items: tuple[str, ...]) -> tuple[int, dict[str, int]]:
    """The error log's level (the last bare item, else info) and each LOGGER=LEVEL item's."""
    by_name = logging.getLevelNamesMapping()
    error_level = logging.INFO
    named: dict[str, int] = {}
    for item in items:
        logger, _, level = item.rpartition("=")
        if logger:
            named[logger] = by_name[level.upper()]
        else:
            error_level = by_name[level.upper()]
    return error_level, named


# --- configure -------------------------------------------------------------------------------


def configure(config: Config) -> Logs:
    """Set up logging as `config` says (see the module's docstring for the order).

    Raises ConfigError for a bad access format, a log file that cannot be opened or a log
    configuration that cannot be read or applied. When the access format or the log
    configuration cannot be read nothing is changed; when applying fails, the caller
    should configure again with settings that worked (HUP does).
    """
    log_config = read_log_config(config)
    claimed = log_config.loggers if log_config is not None else frozenset()
    access_logger = logging.getLogger(ACCESS_LOGGER)
    # A --log-config that takes the access logger over writes access lines wherever it says.
    enabled = config.access_logfile is not None or ACCESS_LOGGER in claimed
    access = AccessLog(access_logger, config.access_logformat, enabled=enabled)
    error_level, named_levels = split_levels(config.log_level)
    error_logger = logging.getLogger(ERROR_LOGGER)
    error_logger.setLevel(error_level)
    access_logger.setLevel(logging.INFO)
    if log_config is not None:
        # First: it closes every handler the process has, and pronghorn's come after it.
        apply_log_config(log_config)
    error_handler, access_handler = _own_handlers(config, claimed)
    if ERROR_LOGGER not in claimed:
        _install(error_logger, error_handler)
    if ACCESS_LOGGER not in claimed:
        _install(access_logger, access_handler)
    for name, level in named_levels.items():
        logging.getLogger(name).setLevel(level)
    handlers = tuple(h for h in (error_handler, access_handler) if h is not None)
    capture = None
    if config.capture_output and isinstance(error_handler, ReopeningFileHandler):
        capture = error_handler
        capture_into(capture)
    return Logs(error_logger, access, handlers, capture)


def _own_handlers(
    config: Config, claimed: frozenset[str]
) -> tuple[logging.Handler | None, logging.Handler | None]:
    """pronghorn's handlers for those of its loggers the operator's config leaves to it."""
    error_handler = access_handler = None
    if ERROR_LOGGER not in claimed:
        error_handler = _handler(config.error_logfile, sys.stderr, "--error-logfile", ERROR_LOGGER)
        error_handler.setFormatter(logging.Formatter(ERROR_FORMAT, ERROR_DATE_FORMAT))
    if ACCESS_LOGGER not in claimed and config.access_logfile is not None:
        try:
            access_handler = _handler(
                config.access_logfile, sys.stdout, "--access-logfile", ACCESS_LOGGER
            )
        except ConfigError:
            if error_handler is not None:
                error_handler.close()
            raise
        access_handler.setFormatter(LineFormatter())
    return error_handler, access_handler


def configure_again(config: Config, working: Config, current: Logs) -> Logs:
    """HUP: set logging up as `config` says; if that fails, log why and set it up again as
    `working` (the settings in effect) says, so a reload never leaves logging half-done.
    Should even that fail (a log directory gone meanwhile), `current` is kept as it is."""
    try:
        return configure(config)
    except ConfigError as exc:
        reason = exc
    try:
        logs = configure(working)
    except ConfigError as again:
        current.error.error("Reload: logging cannot be set up again either: %s", again)
        logs = current
    logs.error.error("Reload: logging settings not applied, keeping the old ones: %s", reason)
    return logs


def capture_into(handler: ReopeningFileHandler) -> None:
    """Make descriptors 1 and 2 the error log's file, as gunicorn's --capture-output does:
    what the application prints, warnings and a crash's traceback land in the error log
    (so does an access log sent to - , which is standard output), in this process and in
    the processes it forks."""
    sys.stdout.flush()
    sys.stderr.flush()
    handler.flush()
    fd = handler.stream.fileno()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
