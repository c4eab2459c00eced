"""Which build the suite runs on: `make test` runs it twice, on the editable pure tree and on
an installed compiled wheel (.venv-compiled), and says which in PRONGHORN_EXPECT_BUILD. These
tests fail when the run is not on the build it claims (e.g. src/ ahead of the installed
package, or a wheel that quietly fell back to pure)."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pronghorn.build import COMPILED_MODULES, NATIVE_MODULES, running_build
from pronghorn.http.parser import HEAD_SCAN
from pronghorn.io.sockets import NATIVE_ACCEPT, NATIVE_RECEIVE

EXPECTED = os.environ.get("PRONGHORN_EXPECT_BUILD", "")
SRC = Path(__file__).resolve().parents[1] / "src"


def _is_extension(module_name: str) -> bool:
    path = importlib.import_module(module_name).__file__ or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_the_running_build_is_the_expected_one() -> None:
    if EXPECTED == "compiled":
        assert running_build() == "compiled"
        not_compiled = [name for name in COMPILED_MODULES if not _is_extension(name)]
        assert not not_compiled, f"imported from Python sources: {not_compiled}"
        assert all(_is_extension(name) for name in NATIVE_MODULES)
        assert HEAD_SCAN is not None  # the parser found the native head scan
        assert NATIVE_ACCEPT is not None and NATIVE_RECEIVE is not None  # and the reactor its
        assert not any(Path(entry).resolve() == SRC for entry in sys.path if entry)
    elif EXPECTED == "pure":
        assert running_build() == "pure"
        assert not any(_is_extension(name) for name in COMPILED_MODULES)
        assert HEAD_SCAN is None
        assert NATIVE_ACCEPT is None and NATIVE_RECEIVE is None
    else:
        # Run by hand: whatever imports must agree with what running_build() says.
        compiled = _is_extension("pronghorn.http.parser")
        assert running_build() == ("compiled" if compiled else "pure")


def test_a_server_subprocess_runs_the_same_build(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pronghorn", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.endswith(f"({running_build()} build)\n")


@pytest.mark.skipif(running_build() != "compiled", reason="only a compiled install has both")
def test_pronghorn_pure_runs_the_python_sources(tmp_path: Path) -> None:
    probe = (
        "import pronghorn.http.parser as p, pronghorn.io.reactor as r, pronghorn.io.sockets as s;"
        "from pronghorn.build import running_build as b;"
        "print(p.__file__, r.__file__, p.HEAD_SCAN is None and s.NATIVE_ACCEPT is None, b())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=dict(os.environ, PRONGHORN_PURE="1"),
    )
    parser_file, reactor_file, no_scan, build = result.stdout.split(maxsplit=3)
    assert parser_file.endswith("parser.py") and reactor_file.endswith("reactor.py")
    assert no_scan == "True"  # nor are the C head scan and accept
    assert build.strip() == "pure (PRONGHORN_PURE=1)"


def test_every_compiled_module_has_its_source() -> None:
    """A module renamed or moved must be renamed in the compiled set too: a stale name would
    leave the new module uncompiled (and fail the compiled wheel's build)."""
    missing = [
        name for name in COMPILED_MODULES if not (SRC / (name.replace(".", "/") + ".py")).is_file()
    ]
    assert not missing


def test_every_native_module_has_its_c_source_and_stub() -> None:
    """setup.py builds each native module from `<name>.c`; mypy reads `<name>.pyi`."""
    for name in NATIVE_MODULES:
        base = SRC / name.replace(".", "/")
        assert base.with_suffix(".c").is_file() and base.with_suffix(".pyi").is_file(), name
