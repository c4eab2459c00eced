"""Python config files (`-c something.py`), including existing `gunicorn.conf.py` files.

Owns: running the file and turning its module-level names into setting values, hook
functions and warnings. A name is read as a pronghorn setting (`keep_alive`), as the gunicorn
setting of the same meaning (`keepalive`, `preload_app`, `pidfile`, ...) or as a server hook
(`post_fork`, ... see `HOOK_NAMES`). Gunicorn settings and hooks pronghorn does not have are
kept as warnings for the caller to log; private names, modules, classes and other helper
values are ignored. Running the file is the one side effect of reading such a config.
"""

from __future__ import annotations

import inspect
import runpy
from dataclasses import dataclass, field
from types import MappingProxyType

from pronghorn.config.model import HOOK_NAMES, FileExtras
from pronghorn.config.registry import BY_NAME, did_you_mean
from pronghorn.errors import ConfigError

GUNICORN_NAMES = MappingProxyType(
    {
        "wsgi_app": "app",
        "keepalive": "keep_alive",
        "preload_app": "preload",
        "pidfile": "pid",
        "accesslog": "access_logfile",
        "access_log_format": "access_logformat",
        "errorlog": "error_logfile",
        "loglevel": "log_level",
    }
)
"""Gunicorn setting names whose meaning pronghorn shares under another name."""

GUNICORN_UNSUPPORTED = frozenset(
    {
        "worker_class", "reload_engine", "reload_extra_files", "spew",
        "check_config", "print_config", "sendfile", "daemon", "raw_env", "worker_tmp_dir",
        "tmp_upload_dir", "secure_scheme_headers",
        "disable_redirect_access_to_syslog", "capture_output",
        "logger_class", "logconfig", "logconfig_dict", "logconfig_json", "syslog_addr",
        "syslog", "syslog_prefix", "syslog_facility", "enable_stdio_inheritance",
        "statsd_host", "dogstatsd_tags", "statsd_prefix", "proc_name", "default_proc_name",
        "paste", "proxy_protocol", "proxy_allow_ips", "ssl_version",
        "suppress_ragged_eofs", "do_handshake_on_connect", "raw_paste_global_conf",
        "permit_obsolete_folding",
        "strip_header_spaces", "permit_unconventional_http_method",
        "permit_unconventional_http_version", "casefold_http_method", "forwarder_headers",
        "header_map", "limit_request_fields_size", "worker_int", "worker_abort",
        "pre_request", "post_request", "ssl_context", "on_starting_hook", "threads_per_worker",
    }
)  # fmt: skip
"""Gunicorn settings and hooks pronghorn does not implement: accepted with a warning."""


@dataclass(frozen=True, slots=True)
class PythonFile:
    """What one Python config file set: values by setting name, and its extras."""

    values: dict[str, object] = field(default_factory=dict)
    extras: FileExtras = field(default_factory=FileExtras)


def read_python_file(path: str) -> PythonFile:
    """Run the Python config file `path` and collect its settings, hooks and warnings."""
    try:
        namespace = runpy.run_path(path, run_name="__config__")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: no such file") from None
    except Exception as exc:  # the user's code: any failure is a config mistake
        raise ConfigError(f"config file {path} failed: {type(exc).__name__}: {exc}") from None
    values: dict[str, object] = {}
    hooks: list[tuple[str, object]] = []
    warnings: list[str] = []
    for name, raw in namespace.items():
        if name.startswith("_") or inspect.ismodule(raw) or inspect.isclass(raw):
            continue
        if name in HOOK_NAMES:
            if not callable(raw):
                raise ConfigError(f"config file {path}: hook {name} is not a function")
            hooks.append((name, raw))
            continue
        setting = BY_NAME.get(GUNICORN_NAMES.get(name, name))
        if setting is not None and setting.in_file:
            if raw is not None:
                where = f"config file {path}: {name}"
                values[setting.name] = setting.from_toml(_plain(raw), where)
        elif name in GUNICORN_UNSUPPORTED:
            warnings.append(f"config file {path}: gunicorn setting {name!r} is not supported")
        elif not callable(raw):
            hint = did_you_mean(name, [*BY_NAME, *GUNICORN_NAMES, *HOOK_NAMES])
            if hint:
                warnings.append(f"config file {path}: ignoring unknown name {name!r}{hint}")
    return PythonFile(values, FileExtras(tuple(hooks), tuple(warnings)))  # type: ignore[arg-type]


def _plain(raw: object) -> object:
    """Python values in the shapes the TOML reader expects (tuples become lists)."""
    return list(raw) if isinstance(raw, tuple) else raw
