"""Loading "module:app" into a WSGI callable, with real modules written to tmp_path."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from pronghorn.errors import AppLoadError
from pronghorn.loader import apply_search_path, import_app, load_app

APP_MODULE = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app"]

def application(environ, start_response):
    start_response("200 OK", [])
    return [b"application"]

def create_app(name="default", count=1, *, loud=False):
    def made(environ, start_response):
        start_response("200 OK", [])
        return [f"{name}-{count}-{loud}".encode()]
    return made

class Holder:
    def wsgi_app(self, environ, start_response):
        start_response("200 OK", [])
        return [b"holder"]

holder = Holder()
not_callable = 42

def broken_factory():
    raise RuntimeError("factory exploded")
"""


@pytest.fixture
def isolated(tmp_path: Path) -> Iterator[Path]:
    """Leave sys.path, sys.modules and the working directory as they were."""
    saved_path, saved_modules, saved_cwd = list(sys.path), set(sys.modules), os.getcwd()
    try:
        yield tmp_path
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            del sys.modules[name]
        os.chdir(saved_cwd)


def write(directory: Path, name: str, source: str) -> None:
    path = directory / (name.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(directory).parents:
        if str(parent) != ".":
            (directory / parent / "__init__.py").touch()
    path.write_text(dedent(source), encoding="utf-8")
    importlib.invalidate_caches()


def call(app: object) -> bytes:
    assert callable(app)
    statuses: list[str] = []
    body = b"".join(app({}, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses == ["200 OK"]
    return body


@pytest.mark.parametrize(
    ("spec", "body"),
    [
        ("loadme_a:app", b"app"),
        ("loadme_a:application", b"application"),
        ("loadme_a", b"application"),
        ("loadme_a:create_app()", b"default-1-False"),
        ("loadme_a:create_app('x', 2)", b"x-2-False"),
        ("loadme_a:create_app(name='kw', loud=True)", b"kw-1-True"),
        ("loadme_a:holder.wsgi_app", b"holder"),
        (" loadme_a : app ", b"app"),
    ],
)
def test_forms(isolated: Path, spec: str, body: bytes) -> None:
    write(isolated, "loadme_a", APP_MODULE)
    assert call(load_app(spec, pythonpath=[str(isolated)])) == body


def test_bare_module_falls_back_to_app(isolated: Path) -> None:
    write(isolated, "pkg_b.wsgi", "def app(e, s):\n    s('200 OK', [])\n    return [b'b']\n")
    assert call(load_app("pkg_b.wsgi", pythonpath=[str(isolated)])) == b"b"


def test_bare_module_without_either_name(isolated: Path) -> None:
    write(isolated, "loadme_c", "def make(): pass\n")
    with pytest.raises(AppLoadError) as info:
        load_app("loadme_c", pythonpath=[str(isolated)])
    assert "has no 'application' or 'app'" in str(info.value)
    assert "loadme_c:NAME" in str(info.value)
    assert "callables it defines: make" in str(info.value)


def test_chdir_puts_the_directory_on_sys_path(isolated: Path) -> None:
    write(isolated / "site", "loadme_d", APP_MODULE)
    app = load_app("loadme_d:app", chdir=str(isolated / "site"))
    assert call(app) == b"app"
    assert os.getcwd() == str((isolated / "site").resolve())


def test_pythonpath_relative_entries_follow_chdir(isolated: Path) -> None:
    write(isolated / "site" / "lib", "loadme_e", APP_MODULE)
    apply_search_path(str(isolated / "site"), ["lib"])
    assert sys.path[0] == str((isolated / "site" / "lib").resolve())
    assert sys.path[1] == str((isolated / "site").resolve())
    assert call(import_app("loadme_e:app")) == b"app"


def test_missing_chdir(isolated: Path) -> None:
    with pytest.raises(AppLoadError, match=r"--chdir .*nowhere: No such file or directory"):
        apply_search_path(str(isolated / "nowhere"), [])


def test_missing_module_is_not_an_import_failure(isolated: Path) -> None:
    with pytest.raises(AppLoadError) as info:
        load_app("no_such_module_xyz:app", pythonpath=[str(isolated)])
    message = str(info.value)
    assert "no module named 'no_such_module_xyz'" in message
    assert "--chdir or --pythonpath" in message
    assert "Traceback" not in message


def test_missing_package_of_a_dotted_module(isolated: Path) -> None:
    with pytest.raises(AppLoadError, match="no module named 'nopkg_xyz'"):
        load_app("nopkg_xyz.wsgi:app", pythonpath=[str(isolated)])


def test_failing_import_inside_the_module_keeps_the_traceback(isolated: Path) -> None:
    write(isolated, "loadme_f", "import os\nimport missing_dependency_xyz\napp = None\n")
    with pytest.raises(AppLoadError) as info:
        load_app("loadme_f:app", pythonpath=[str(isolated)])
    message = str(info.value)
    assert "module 'loadme_f' was found, but importing it failed" in message
    assert "Traceback (most recent call last)" in message
    assert 'loadme_f.py", line 2' in message
    assert "ModuleNotFoundError: No module named 'missing_dependency_xyz'" in message
    assert "pronghorn/loader.py" not in message


def test_module_code_raising_is_an_import_failure(isolated: Path) -> None:
    write(isolated, "loadme_g", "app = None\nraise RuntimeError('settings not configured')\n")
    with pytest.raises(AppLoadError) as info:
        load_app("loadme_g", pythonpath=[str(isolated)])
    assert "RuntimeError: settings not configured" in str(info.value)


def test_syntax_error_in_module(isolated: Path) -> None:
    write(isolated, "loadme_h", "def app(:\n")
    with pytest.raises(AppLoadError, match="SyntaxError"):
        load_app("loadme_h:app", pythonpath=[str(isolated)])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("loadme_i:ap", "module 'loadme_i' has no attribute 'ap'; did you mean 'app'"),
        ("loadme_i:aplication", "did you mean 'application'"),
        (
            "loadme_i:holder.wsgi",
            "loadme_i:holder has no attribute 'wsgi'; did you mean 'wsgi_app'",
        ),
        ("loadme_i:zzzz", "callables it defines: Holder, app, application"),
        ("loadme_i:create_ap()", "has no attribute 'create_ap'; did you mean 'create_app'"),
    ],
)
def test_missing_attribute_lists_close_names(isolated: Path, spec: str, expected: str) -> None:
    write(isolated, "loadme_i", APP_MODULE)
    with pytest.raises(AppLoadError) as info:
        load_app(spec, pythonpath=[str(isolated)])
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("loadme_j:not_callable", "loadme_j:not_callable is a int, not a WSGI callable"),
        ("loadme_j:not_callable()", "loadme_j:not_callable is not callable"),
        ("loadme_j:create_app(os.getcwd())", "factory arguments must be literals"),
        ("loadme_j:create_app(**{'a': 1})", "**kwargs is not supported"),
        ("loadme_j:app[0]", "cannot read loadme_j:app[0]"),
        ("loadme_j:1 +", "cannot read loadme_j:1 +"),
        ("loadme_j:broken_factory()", "RuntimeError: factory exploded"),
        ("loadme_j:create_app(1, 2, 3)", "TypeError"),
    ],
)
def test_bad_targets(isolated: Path, spec: str, expected: str) -> None:
    write(isolated, "loadme_j", APP_MODULE)
    with pytest.raises(AppLoadError) as info:
        load_app(spec, pythonpath=[str(isolated)])
    assert expected in str(info.value)


def test_factory_arguments_are_never_evaluated(isolated: Path) -> None:
    marker = isolated / "evaluated"
    write(isolated, "loadme_k", APP_MODULE)
    spec = f"loadme_k:create_app(open({str(marker)!r}, 'w'))"
    with pytest.raises(AppLoadError, match="must be literals"):
        load_app(spec, pythonpath=[str(isolated)])
    assert not marker.exists()
