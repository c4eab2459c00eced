"""Where settings come from, and how they combine into one `Config`.

Owns: reading the environment (`PRONGHORN_<NAME>`, and gunicorn's `GUNICORN_CMD_ARGS`), the
TOML config file and which config file is read, the precedence defaults < file <
environment < command line, the checks that span several settings,
`load_config`, the one call that turns argv + environment into a `Config`, and
`read_keywords`, the settings given by name from Python (`pronghorn.serve`) or an ini
file. Reading settings binds nothing, imports no application and never exits: every mistake
is a `ConfigError`.
"""

from __future__ import annotations

import difflib
import os
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from pronghorn.build import BUILD_VARIABLES
from pronghorn.config.arguments import CommandLine, parse_command_line
from pronghorn.config.gunicorn import BY_GUNICORN_NAME
from pronghorn.config.model import FORWARDED_EXCLUDES, Config, FileExtras
from pronghorn.config.pyfile import read_python_file
from pronghorn.config.registry import ENV_PREFIX, SETTINGS, Setting, did_you_mean
from pronghorn.errors import ConfigError

DEFAULT_FILE = "pronghorn.toml"
"""Read from the current directory when no -c/--config or PRONGHORN_CONFIG names a file."""
GUNICORN_DEFAULT_FILE = "gunicorn.conf.py"
"""Read from the current directory when there is no DEFAULT_FILE either, as gunicorn does."""
GUNICORN_ARGS_VAR = "GUNICORN_CMD_ARGS"
"""Gunicorn's variable of extra command-line arguments, read as gunicorn reads it."""

# An unknown PRONGHORN_* variable is only an error when it looks like a misspelt setting:
# other tools (test harnesses, wrappers) legitimately use the prefix for their own names.
_ENV_MISSPELLING_CUTOFF = 0.8


def load_config(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Config:
    """Parse argv (without the program name) and the environment into a Config."""
    return build_config(parse_command_line(argv), os.environ if environ is None else environ)


def build_config(command_line: CommandLine, environ: Mapping[str, str]) -> Config:
    """Combine defaults < config file < GUNICORN_CMD_ARGS < PRONGHORN_* < command line.

    The config file is the one -c names, else PRONGHORN_CONFIG, else a -c inside
    GUNICORN_CMD_ARGS, else ./pronghorn.toml, else ./gunicorn.conf.py."""
    env_values = read_environment(environ)
    gunicorn_values = read_gunicorn_arguments(environ)
    given = {**gunicorn_values, **env_values, **command_line.values}
    path = given.get("config")
    if path:
        return over_file(str(path), given)
    path, notes = _default_file()
    config = over_file(path, given)
    if notes:
        extras = replace(config.extras, warnings=(*notes, *config.extras.warnings))
        config = replace(config, extras=extras)
    return config


def read_gunicorn_arguments(environ: Mapping[str, str]) -> dict[str, object]:
    """The settings of GUNICORN_CMD_ARGS: gunicorn's flags (or pronghorn's), split as a
    shell would, read by the same parser as the command line."""
    text = environ.get(GUNICORN_ARGS_VAR, "")
    if not text.strip():
        return {}
    where = f"environment variable {GUNICORN_ARGS_VAR}"
    try:
        command_line = parse_command_line(shlex.split(text))
    except ValueError as exc:  # shlex: an unclosed quote
        raise ConfigError(f"{where}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if command_line.command:
        raise ConfigError(f"{where}: {command_line.command} works on the command line only")
    if "app" in command_line.values:
        raise ConfigError(f"{where}: give APP on the command line, not here")
    return command_line.values


def over_file(path: str | None, given: Mapping[str, object]) -> Config:
    """The settings `given` over those of config file `path` (if any), checked as a Config."""
    extras = FileExtras()
    if path and path.startswith("python:"):
        raise ConfigError(
            f"config file {path}: gunicorn's python:MODULE form is not read; name the file"
        )
    path = path.removeprefix("file:") if path else path
    if path and path.endswith(".py"):
        python_file = read_python_file(path)
        file_values, extras = python_file.values, python_file.extras
    else:
        file_values = read_config_file(path) if path else {}
    values = {**file_values, **given}
    if path:
        values["config"] = path
    values["extras"] = extras
    return finish(values)


def _default_file() -> tuple[str | None, tuple[str, ...]]:
    """The config file found in the working directory, and a warning when two are."""
    found = [name for name in (DEFAULT_FILE, GUNICORN_DEFAULT_FILE) if Path(name).is_file()]
    if len(found) == 2:
        note = (
            f"{DEFAULT_FILE} and {GUNICORN_DEFAULT_FILE} are both in the working directory: "
            f"only {DEFAULT_FILE} is read (name the other with -c to read it instead)"
        )
        return found[0], (note,)
    return (found[0] if found else None), ()


def read_environment(environ: Mapping[str, str]) -> dict[str, object]:
    """The settings given as PRONGHORN_<NAME> variables; empty values count as unset."""
    by_var = {setting.env_var: setting for setting in SETTINGS}
    values: dict[str, object] = {}
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX):
            continue
        setting = by_var.get(var)
        if setting is None:
            if var not in BUILD_VARIABLES:
                _reject_misspelt_variable(var, list(by_var))
            continue
        raw = environ[var]
        if not raw.strip():
            continue
        where = f"environment variable {var}"
        items = raw.split(",") if setting.multiple else [raw]
        values[setting.name] = setting.from_text(items, where)
    return values


def read_keywords(
    keywords: Mapping[str, object], source: str, *, as_text: bool = False
) -> dict[str, object]:
    """Settings given by name, as `pronghorn.serve(**settings)` and an ini file give them.

    Names are the registry's (`keep_alive`; `keep-alive` works too). Python values are read
    as config-file values are (an int for an integer, a list or tuple for a repeatable
    setting, a path object for a path); with `as_text`, values are strings read as the
    environment's are, a list being one item per line or comma-separated. `source` names
    where they came from in error messages. The application is not among them.
    """
    by_name = {setting.name: setting for setting in SETTINGS if setting.name != "app"}
    values: dict[str, object] = {}
    for key in sorted(keywords):
        raw, name = keywords[key], key.replace("-", "_")
        setting = by_name.get(name)
        if setting is None:
            raise ConfigError(f"{source}: unknown setting {key!r}{did_you_mean(name, by_name)}")
        if name in values:
            raise ConfigError(f"{source}: {name!r} is set twice")
        where = f"{source}: {key}"
        if not as_text:
            values[name] = setting.from_toml(_plain(raw), where)
            continue
        items = [part for line in str(raw).splitlines() for part in line.split(",")]
        items = [item.strip() for item in items if item.strip()]
        if items:  # an empty value counts as unset, as in the environment
            values[name] = setting.from_text(items if setting.multiple else [str(raw)], where)
    return values


def _plain(value: object) -> object:
    """A path object as its string, a tuple as a list: the shapes a config file gives."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _reject_misspelt_variable(var: str, known: list[str]) -> None:
    close = difflib.get_close_matches(var, known, n=1, cutoff=_ENV_MISSPELLING_CUTOFF)
    if close:
        raise ConfigError(f"unknown environment variable {var} (did you mean {close[0]}?)")


def read_config_file(path: str) -> dict[str, object]:
    """The settings in TOML file `path`; keys are long option names (- or _ both work)."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    by_key = {setting.file_key: setting for setting in SETTINGS}
    values: dict[str, object] = {}
    for key, raw in document.items():
        setting = by_key.get(key.replace("_", "-"))
        if setting is None or not setting.in_file:
            raise ConfigError(f"config file {path}: unknown key {key!r}{_key_hint(key, by_key)}")
        if setting.name in values:
            raise ConfigError(f"config file {path}: {setting.file_key!r} is set twice")
        values[setting.name] = setting.from_toml(raw, f"config file {path}: key {key!r}")
    return values


def _key_hint(key: str, by_key: Mapping[str, Setting]) -> str:
    """What to say of an unknown key: gunicorn's answer for its names, else a close key."""
    setting = by_key.get(key.replace("_", "-"))
    if setting is not None:  # a setting that is never read from a file
        return f" ({setting.long_option} is given on the command line or in the environment)"
    entry = BY_GUNICORN_NAME.get(key.replace("-", "_"))
    if entry is not None:
        return f" ({entry.key_message()})"
    known = sorted(k for k, s in by_key.items() if s.in_file)
    return did_you_mean(key.replace("_", "-"), known)


def finish(values: Mapping[str, object]) -> Config:
    """Check the rules that span settings and build the Config (defaults fill the rest)."""
    config = Config(**cast(dict[str, Any], dict(values)))
    _check_unique("--bind", "address", config.bind)
    _check_unique("--static", "prefix", [mount.prefix or "/" for mount in config.static])
    if config.single_process and (config.workers > 1 or config.reload):
        raise ConfigError(
            "--single-process runs one process: it cannot have --workers > 1 or --reload"
        )
    if config.single_process and (config.user or config.group):
        raise ConfigError(
            "--user and --group switch the workers' user: they need the master, "
            "not --single-process"
        )
    if config.initgroups and not config.user:
        raise ConfigError("--initgroups sets the groups of --user: give --user too")
    if "forwarded" in config.trusted_proxy_headers:
        both = sorted(FORWARDED_EXCLUDES.intersection(config.trusted_proxy_headers))
        if both:
            raise ConfigError(
                f"option --trusted-proxy-headers: forwarded cannot be trusted together with "
                f"{', '.join(both)}: they carry the same facts and could disagree"
            )
    _check_tls(config)
    if config.app is None and not config.static:
        raise ConfigError(
            "no application given: pass APP (as myproject.wsgi:application) "
            "or serve files with --static PREFIX=DIR"
        )
    return config


def _check_tls(config: Config) -> None:
    """TLS settings that would be silently ignored are mistakes (a client-certificate
    check that never happens is a hole, not a default)."""
    if config.certfile is None:
        given = [
            option
            for option, value in (
                ("--keyfile", config.keyfile),
                ("--keyfile-password", config.keyfile_password),
                ("--ca-certs", config.ca_certs),
                ("--ciphers", config.ciphers),
                ("--cert-reqs", None if config.cert_reqs == "none" else config.cert_reqs),
                ("--ssl-min-version", None if config.ssl_min_version == "1.2" else "1.3"),
            )
            if value is not None
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} configure TLS: give --certfile too")
    if config.cert_reqs != "none" and config.ca_certs is None:
        raise ConfigError(
            f"--cert-reqs {config.cert_reqs} checks client certificates against "
            "--ca-certs: give --ca-certs too"
        )
    # Not built yet: the PROXY header comes before the TLS handshake on the wire, and the
    # uwsgi protocol over TLS (nginx's suwsgi) is not wired to the TLS connection.
    if config.certfile is not None and config.proxy_protocol != "off":
        raise ConfigError(
            "--certfile with --proxy-protocol is not supported yet: let the proxy end TLS "
            "(haproxy's send-proxy-v2-ssl tells pronghorn the client used https)"
        )
    if config.certfile is not None and config.protocol == "uwsgi":
        raise ConfigError(
            "--certfile with --protocol uwsgi is not supported yet: nginx and pronghorn "
            "speak uwsgi in the clear, over loopback or a Unix socket"
        )


def _check_unique(option: str, what: str, items: Sequence[str]) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ConfigError(f"option {option}: {what} {item} is given twice")
        seen.add(item)
