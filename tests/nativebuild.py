"""The compiled build's hand-written C modules, for the run of the suite that has none.

The compiled run tests the installed modules; the pure build never builds them, so its run
compiles the same C source here (once per test process, about a second) and loads it under
its own short name. `make test` installs the C compiler either way (the compiled build
needs it)."""

from __future__ import annotations

import atexit
import importlib.machinery
import importlib.util
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

SRC = Path(__file__).resolve().parents[1] / "src"


def build_native(name: str) -> ModuleType:
    """Compile and load the C source of the native module `name` (pronghorn.x._y)."""
    source = SRC.joinpath(*name.split(".")).with_suffix(".c")
    leaf = name.rpartition(".")[2]
    work = Path(tempfile.mkdtemp(prefix=f"{leaf}-"))
    atexit.register(shutil.rmtree, work, True)
    built = work / f"{leaf}{sysconfig.get_config_var('EXT_SUFFIX')}"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()
    include = sysconfig.get_paths()["include"]
    command = [*compiler, "-shared", "-fPIC", "-O2", f"-I{include}", str(source), "-o", str(built)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    loader = importlib.machinery.ExtensionFileLoader(leaf, str(built))
    spec = importlib.util.spec_from_file_location(leaf, built, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
