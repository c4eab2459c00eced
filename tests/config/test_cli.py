"""`python -m pronghorn` as a real subprocess: help, version, usage errors, app load errors."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pronghorn
from pronghorn.build import running_build
from pronghorn.config import load_config
from pronghorn.errors import EXIT_APP_LOAD, EXIT_OK, EXIT_USAGE


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PRONGHORN_") and k != "GUNICORN_CMD_ARGS"
    }
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
        f"pronghorn {pronghorn.__version__} ({running_build()} build)\n",
        "",
    )


def test_help_lists_every_option(tmp_path: Path) -> None:
    result = run(["--help"], tmp_path)
    assert result.returncode == EXIT_OK
    assert result.stdout.startswith("usage: pronghorn")
    for option in ("--bind", "--threads", "--access-logformat", "--static", "PRONGHORN_BIND"):
        assert option in result.stdout
    # the other command is found from the main one's help
    assert "pronghorn top" in " ".join(result.stdout.split())


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


# --- --check-config and --print-config -------------------------------------------------------


CHECKED_APP = """\
import os

with open("imported.txt", "w") as file:
    file.write(os.environ.get("GREETING", "-"))


def app(environ, start_response):
    return []
"""


def test_check_config_imports_the_app_with_env_and_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "checked.py").write_text(CHECKED_APP)
    result = run(["--check-config", "-e", "GREETING=hi", "--pid", "x.pid", "checked:app"], tmp_path)
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
    assert (
        result.stdout
        == "pronghorn: the configuration is valid; the application checked:app imports\n"
    )
    assert (tmp_path / "imported.txt").read_text() == "hi"
    assert not (tmp_path / "x.pid").exists()  # no master ran


def test_build_variables_in_the_environment_are_accepted(tmp_path: Path) -> None:
    # PRONGHORN_PURE=1 runs a compiled install's Python sources (pronghorn.build), and a
    # shell that built a wheel may still have PRONGHORN_BUILD set: neither is a setting,
    # and neither may be refused as a misspelt one (PRONGHORN_USER, PRONGHORN_BIND).
    (tmp_path / "checked.py").write_text(CHECKED_APP)
    env = {"PRONGHORN_PURE": "1", "PRONGHORN_BUILD": "compiled"}
    result = run(["--check-config", "checked:app"], tmp_path, **env)
    assert (result.returncode, result.stderr) == (EXIT_OK, "")


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["no_such_module:app"], EXIT_APP_LOAD, "cannot load the application no_such_module:app"),
        (["--threads", "0", "checked:app"], EXIT_USAGE, "option --threads: expected"),
        (["-u", "no-such-user-here", "checked:app"], EXIT_USAGE, "no such user"),
        (["-k", "gevent", "checked:app"], EXIT_USAGE, "gunicorn's -k (worker_class)"),
    ],
)
def test_check_config_errors(tmp_path: Path, args: list[str], status: int, expected: str) -> None:
    (tmp_path / "checked.py").write_text(CHECKED_APP)
    result = run(["--check-config", *args], tmp_path)
    assert result.returncode == status
    assert expected in result.stderr


def test_print_config_prints_every_setting_as_a_file_that_reads_back(tmp_path: Path) -> None:
    argv = [
        "-b", "127.0.0.1:9001", "-b", "unix:/tmp/s.sock", "-w", "3", "--keep-alive", "2.5",
        "--umask", "027", "-e", 'QUOTED="x" \\ y', "--static", "/s=./public",
        "--access-logformat", '%(h)s "%(r)s"', "--name", "shop", "shop:app",
    ]  # fmt: skip
    result = run(["--print-config", *argv], tmp_path)
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
    assert "umask = 0o027\n" in result.stdout and "# pid is not set\n" in result.stdout
    saved = tmp_path / "printed.toml"
    saved.write_text(result.stdout)
    expected = load_config(argv, {})
    assert load_config(["-c", str(saved)], {}) == dataclasses.replace(expected, config=str(saved))
