"""Where settings come from, and how they combine into one `Config`.

Owns: reading the environment (`PRONGHORN_<NAME>`) and the TOML config file, the precedence
defaults < file < environment < command line, the checks that span several settings,
`load_config`, the one call that turns argv + environment into a `Config`, and
`read_keywords`, the settings given by name from Python (`pronghorn.serve`) or an ini
file. Reading settings binds nothing, imports no application and never exits: every mistake
is a `ConfigError`.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from pronghorn.config.arguments import CommandLine, parse_command_line
from pronghorn.config.model import FORWARDED_EXCLUDES, Config, FileExtras
from pronghorn.config.pyfile import read_python_file
from pronghorn.config.registry import ENV_PREFIX, SETTINGS, did_you_mean
from pronghorn.errors import ConfigError

DEFAULT_FILE = "pronghorn.toml"
"""Read from the current directory when no -c/--config or PRONGHORN_CONFIG names a file."""

# An unknown PRONGHORN_* variable is only an error when it looks like a misspelt setting:
# other tools (test harnesses, wrappers) legitimately use the prefix for their own names.
_ENV_MISSPELLING_CUTOFF = 0.8


def load_config(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Config:
    """Parse argv (without the program name) and the environment into a Config."""
    return build_config(parse_command_line(argv), os.environ if environ is None else environ)


def build_config(command_line: CommandLine, environ: Mapping[str, str]) -> Config:
    """Combine defaults < config file < environment < command line into a Config."""
    env_values = read_environment(environ)
    path = command_line.values.get("config") or env_values.get("config") or _default_file()
    return over_file(str(path) if path else None, {**env_values, **command_line.values})


def over_file(path: str | None, given: Mapping[str, object]) -> Config:
    """The settings `given` over those of config file `path` (if any), checked as a Config."""
    extras = FileExtras()
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


def _default_file() -> str | None:
    return DEFAULT_FILE if Path(DEFAULT_FILE).is_file() else None


def read_environment(environ: Mapping[str, str]) -> dict[str, object]:
    """The settings given as PRONGHORN_<NAME> variables; empty values count as unset."""
    by_var = {setting.env_var: setting for setting in SETTINGS}
    values: dict[str, object] = {}
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX):
            continue
        setting = by_var.get(var)
        if setting is None:
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
            known = sorted(k for k, s in by_key.items() if s.in_file)
            hint = did_you_mean(key.replace("_", "-"), known)
            raise ConfigError(f"config file {path}: unknown key {key!r}{hint}")
        if setting.name in values:
            raise ConfigError(f"config file {path}: {setting.file_key!r} is set twice")
        values[setting.name] = setting.from_toml(raw, f"config file {path}: key {key!r}")
    return values


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


def _check_unique(option: str, what: str, items: Sequence[str]) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ConfigError(f"option {option}: {what} {item} is given twice")
        seen.add(item)
