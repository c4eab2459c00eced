"""`python -m pronghorn` as a real subprocess: help, version, usage errors, app load errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pronghorn
from pronghorn.errors import EXIT_APP_LOAD, EXIT_OK, EXIT_USAGE


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PRONGHORN_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pronghorn", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version(tmp_path: Path) -> None:
    result = run(["--version"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        EXIT_OK,
        f"pronghorn {pronghorn.__version__}\n",
        "",
    )


def test_help_lists_every_option(tmp_path: Path) -> None:
    result = run(["--help"], tmp_path)
    assert result.returncode == EXIT_OK
    assert result.stdout.startswith("usage: pronghorn")
    for option in ("--bind", "--threads", "--access-logformat", "--static", "PRONGHORN_BIND"):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--thread", "4", "m:app"], {}, "unknown option --thread (did you mean --threads?)"),
        (["--threads", "many", "m:app"], {}, "option --threads: expected an integer >= 1"),
        ([], {}, "no application given"),
        (["m:app"], {"PRONGHORN_BIDN": "x"}, "did you mean PRONGHORN_BIND?"),
        (["m:app", "--access-logfile", "-", "--access-logformat", "%(z)s"], {}, "unknown atom"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run(args, tmp_path, **env)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("pronghorn: error: ")
    assert expected in result.stderr
    assert result.stdout == ""


def test_config_file_error_exits_2(tmp_path: Path) -> None:
    (tmp_path / "pronghorn.toml").write_text("treads = 2\n")
    result = run(["m:app"], tmp_path)
    assert result.returncode == EXIT_USAGE
    assert "unknown key 'treads' (did you mean threads?)" in result.stderr


def test_missing_app_module_exits_3(tmp_path: Path) -> None:
    result = run(["no_such_app_module:app"], tmp_path)
    assert result.returncode == EXIT_APP_LOAD
    assert "[ERROR] cannot load the application no_such_app_module:app" in result.stderr
    assert "no module named 'no_such_app_module'" in result.stderr


def test_failing_import_exits_3_with_traceback(tmp_path: Path) -> None:
    (tmp_path / "brokenapp.py").write_text("import not_installed_dependency\n")
    result = run(["brokenapp"], tmp_path)
    assert result.returncode == EXIT_APP_LOAD
    assert "importing it failed" in result.stderr
    assert "No module named 'not_installed_dependency'" in result.stderr


def test_missing_attribute_exits_3(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text("def application(e, s):\n    return []\n")
    result = run(["myapp:aplication"], tmp_path)
    assert result.returncode == EXIT_APP_LOAD
    assert "did you mean 'application'?" in result.stderr


def test_load_error_also_reaches_stderr_when_the_error_log_is_a_file(tmp_path: Path) -> None:
    result = run(["no_such_app_module:app", "--error-logfile", "err.log"], tmp_path)
    assert result.returncode == EXIT_APP_LOAD
    assert "no module named 'no_such_app_module'" in result.stderr
    assert "no module named 'no_such_app_module'" in (tmp_path / "err.log").read_text()
