"""Python config files (`-c something.py`), including existing `gunicorn.conf.py` files.

Owns: running the file and turning its module-level names into setting values, hook
functions and warnings. A name is read as a pronghorn setting (`keep_alive`), as the gunicorn
setting of the same meaning (`keepalive`, `preload_app`, `pidfile`, ... see
`pronghorn.config.gunicorn`) or as a server hook (`post_fork`, ... see `HOOK_NAMES`). A
gunicorn setting pronghorn does not have is ignored with a warning that says why, unless
ignoring it would serve something else than the file asks for (TLS, `daemon`, ...): then it
is an error. Values that ask for nothing (None, False, gunicorn's defaults) pass silently.
Private names, modules, classes and other helper values are ignored. Running the file is
the one side effect of reading such a config.
"""

from __future__ import annotations

import inspect
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field

from pronghorn.config.gunicorn import BY_GUNICORN_NAME, Answer, GunicornSetting
from pronghorn.config.model import HOOK_NAMES, FileExtras
from pronghorn.config.registry import BY_NAME, Setting, did_you_mean
from pronghorn.errors import ConfigError


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
    hooks: list[tuple[str, Callable[..., object]]] = []
    warnings: list[str] = []
    for name, raw in namespace.items():
        if name.startswith("_") or inspect.ismodule(raw) or inspect.isclass(raw):
            continue
        if name in HOOK_NAMES:
            hooks.append((name, _hook(path, name, raw)))
            continue
        entry = BY_GUNICORN_NAME.get(name)
        setting = _setting(name, entry)
        if setting is not None:
            if raw is not None and setting.in_file:
                where = f"config file {path}: {name}"
                values[setting.name] = setting.from_toml(_plain(raw), where)
        elif entry is not None:
            warning = _not_taken(path, entry, raw)
            if warning:
                warnings.append(warning)
        elif not callable(raw):
            hint = did_you_mean(name, [*BY_NAME, *BY_GUNICORN_NAME])
            if hint:
                warnings.append(f"config file {path}: ignoring unknown name {name!r}{hint}")
    return PythonFile(values, FileExtras(tuple(hooks), tuple(warnings)))


def _setting(name: str, entry: GunicornSetting | None) -> Setting | None:
    """The pronghorn setting a file name stands for: its own, or gunicorn's equivalent."""
    if entry is not None and entry.answer is Answer.SAME:
        return BY_NAME.get(entry.target)  # None while the equivalent is only planned
    return BY_NAME.get(name)


def _not_taken(path: str, entry: GunicornSetting, raw: object) -> str:
    """A gunicorn setting pronghorn does not take: a warning ('' when the value asks for
    nothing), or a ConfigError when ignoring it would be unsafe."""
    if not entry.asks_for_something(raw):
        return ""
    message = f"config file {path}: gunicorn setting {entry.name!r}: {entry.why_not()}"
    if entry.refuse:
        raise ConfigError(f"{message}. Remove it to run without it.")
    return f"{message}; ignored"


def _hook(path: str, name: str, raw: object) -> Callable[..., object]:
    """The hook function, checked; post_request is made to take gunicorn's four arguments
    whether it was written for two, three or four (as gunicorn allows)."""
    if not callable(raw):
        raise ConfigError(f"config file {path}: hook {name} is not a function")
    if name == "pre_request" and not _accepts(raw, 2):
        raise ConfigError(f"config file {path}: hook pre_request must take (worker, req)")
    if name != "post_request":
        return raw
    for count in (4, 3, 2):
        if _accepts(raw, count):
            return _with_arguments(raw, count)
    raise ConfigError(
        f"config file {path}: hook post_request must take (worker, req, environ, resp), "
        "or its first two or three"
    )


def _accepts(function: Callable[..., object], count: int) -> bool:
    try:
        inspect.signature(function).bind(*range(count))
    except TypeError:
        return False
    except ValueError:  # no signature to inspect (some builtins): trust it
        return True
    return True


def _with_arguments(function: Callable[..., object], count: int) -> Callable[..., object]:
    if count == 4:
        return function

    def post_request(worker: object, req: object, environ: object, resp: object) -> object:
        return function(*(worker, req, environ, resp)[:count])

    return post_request


def _plain(raw: object) -> object:
    """Python values in the shapes the TOML reader expects (tuples become lists)."""
    return list(raw) if isinstance(raw, tuple) else raw
