"""From an APP string ("module:callable") to the WSGI callable.

Owns: the APP grammar and its errors. Forms (as gunicorn):

- `module:name` or `module:name.attr` - an attribute of the module;
- `module:factory()` / `module:factory('x', 2, debug=True)` - call a factory with literal
  arguments (read with `ast.literal_eval`, never evaluated as code);
- `module` - the module's `application`, else its `app`.

`apply_search_path` puts --chdir and --pythonpath into effect and `apply_environment` the
variables of --env (the working directory, sys.path and the environment are process-wide by
nature; nothing else is kept). Every failure is an
`AppLoadError` whose message says what was wrong: the module is missing, an import inside it
failed (with its traceback), the attribute is missing (with close names), or the object is
not callable.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from pronghorn.errors import AppLoadError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

DEFAULT_NAMES = ("application", "app")


def load_app(
    spec: str, *, chdir: str | None = None, pythonpath: Sequence[str] = ()
) -> WSGIApplication:
    """Apply --chdir/--pythonpath, import the module named by `spec` and return the callable."""
    apply_search_path(chdir, pythonpath)
    return import_app(spec)


def apply_search_path(chdir: str | None, pythonpath: Sequence[str]) -> None:
    """Change to `chdir`, then put `pythonpath` entries and the working directory on sys.path.

    The working directory goes on sys.path as gunicorn does, so `pronghorn myapp:app` finds
    `./myapp.py` however pronghorn itself was started. Relative entries are made absolute.
    """
    if chdir is not None:
        try:
            os.chdir(chdir)
        except OSError as exc:
            raise AppLoadError(f"--chdir {chdir}: {exc.strerror}") from None
    entries = [os.path.abspath(entry) for entry in pythonpath] + [os.getcwd()]
    for entry in reversed(entries):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def apply_environment(assignments: Sequence[str]) -> None:
    """Set each `KEY=VALUE` of --env (gunicorn's raw_env) in this process's environment,
    which the application sees when it is imported and the workers inherit at the fork."""
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        os.environ[key] = value


def import_app(spec: str) -> WSGIApplication:
    """Import the module `spec` names and return the WSGI callable it names."""
    module_name, _, expression = spec.strip().partition(":")
    module_name = module_name.strip()
    module = _import_module(module_name)
    if expression.strip():
        target = _evaluate(module, module_name, expression.strip())
    else:
        target = _default_callable(module, module_name)
    if not callable(target):
        raise AppLoadError(
            f"{spec} is a {type(target).__name__}, not a WSGI callable "
            "(a function or object taking environ and start_response)"
        )
    return cast("WSGIApplication", target)


def _import_module(name: str) -> object:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise AppLoadError(
                f"no module named {exc.name!r} (working directory {os.getcwd()}); "
                "check the APP spelling, or use --chdir or --pythonpath"
            ) from None
        raise AppLoadError(_import_failed(name, exc)) from None
    except Exception as exc:  # boundary: any error raised by the app's own module code
        raise AppLoadError(_import_failed(name, exc)) from None


def _import_failed(name: str, exc: BaseException) -> str:
    return f"module {name!r} was found, but importing it failed:\n{_traceback_text(exc)}"


def _traceback_text(exc: BaseException) -> str:
    """The traceback without this module's and importlib's own frames."""
    summary = traceback.TracebackException.from_exception(exc)
    summary.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in summary.stack
            if frame.filename != __file__
            and not frame.filename.startswith("<frozen importlib")
            and os.path.basename(os.path.dirname(frame.filename)) != "importlib"
        ]
    )
    return "".join(summary.format()).rstrip()


def _default_callable(module: object, module_name: str) -> object:
    for name in DEFAULT_NAMES:
        if hasattr(module, name):
            return getattr(module, name)
    raise AppLoadError(
        f"module {module_name!r} has no 'application' or 'app'; name the callable, as in "
        f"{module_name}:NAME" + _candidates(module)
    )


def _evaluate(module: object, module_name: str, expression: str) -> object:
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise AppLoadError(_malformed(module_name, expression)) from None
    if not isinstance(node, ast.Call):
        return _resolve(module, module_name, node, expression)
    factory = _resolve(module, module_name, node.func, expression)
    args, kwargs = _literal_arguments(node, module_name, expression)
    if not callable(factory):
        raise AppLoadError(f"{module_name}:{ast.unparse(node.func)} is not callable")
    try:
        return factory(*args, **kwargs)
    except Exception as exc:  # boundary: the app's factory raised
        raise AppLoadError(
            f"calling the factory {module_name}:{expression} failed:\n{_traceback_text(exc)}"
        ) from None


def _literal_arguments(
    call: ast.Call, module_name: str, expression: str
) -> tuple[list[object], dict[str, object]]:
    try:
        args = [ast.literal_eval(arg) for arg in call.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except ValueError:
        raise AppLoadError(
            f"{module_name}:{expression}: factory arguments must be literals "
            "(strings, numbers, tuples, lists, dicts, True/False/None)"
        ) from None
    if len(kwargs) != len(call.keywords):
        raise AppLoadError(f"{module_name}:{expression}: **kwargs is not supported")
    return args, kwargs


def _resolve(module: object, module_name: str, node: ast.expr, expression: str) -> object:
    """Follow `name` or `name.attr.attr` from the module."""
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise AppLoadError(_malformed(module_name, expression))
    path.append(node.id)
    target, where = module, f"module {module_name!r}"
    for name in reversed(path):
        if not hasattr(target, name):
            raise AppLoadError(f"{where} has no attribute {name!r}" + _candidates(target, name))
        target = getattr(target, name)
        where = f"{module_name}:{name}" if where.startswith("module") else f"{where}.{name}"
    return target


def _candidates(target: object, wanted: str | None = None) -> str:
    public = [name for name in dir(target) if not name.startswith("_")]
    if wanted is not None:
        close = difflib.get_close_matches(wanted, public, n=3)
        if close:
            return "; did you mean " + " or ".join(repr(name) for name in close) + "?"
    callables = [name for name in public if callable(getattr(target, name, None))]
    return f"; callables it defines: {', '.join(callables[:12])}" if callables else ""


def _malformed(module_name: str, expression: str) -> str:
    return (
        f"cannot read {module_name}:{expression}: after the colon give a name (app), an "
        "attribute (app.wsgi_app) or a factory call with literal arguments (create_app('x'))"
    )
