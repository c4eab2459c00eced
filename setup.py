"""Build step: the pure-Python package, plus the mypyc-compiled hot path when it can be built.

PRONGHORN_BUILD (environment, at build time) chooses:
  pure      the Python sources only;
  compiled  compile the modules in pronghorn.build.COMPILED_MODULES with mypyc, or fail;
  auto      (default) compile when a C compiler, Python's headers and mypy are all there and
            everything compiles; otherwise build the pure package and say why.
The wheel always carries the `.py` files too (PRONGHORN_PURE=1 runs them). Editable installs
are always pure (build_backend/backend.py): a compiled file in src/ would shadow edits.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
MODES = ("auto", "compiled", "pure")


def build_mode() -> str:
    mode = os.environ.get("PRONGHORN_BUILD", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise SystemExit(f"PRONGHORN_BUILD={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def module_list(name: str) -> list[str]:
    """One of the lists of src/pronghorn/build.py (COMPILED_MODULES, NATIVE_MODULES), read
    without importing pronghorn."""
    tree = ast.parse((HERE / "src" / "pronghorn" / "build.py").read_text())
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and node.value is not None
        ):
            return list(ast.literal_eval(node.value))
    raise SystemExit(f"src/pronghorn/build.py has no {name}")


def native_extensions() -> list[Extension]:
    """The C extensions written by hand (NATIVE_MODULES), each one `.c` file beside its stub."""
    return [
        Extension(name, [str(Path("src", *name.split(".")).with_suffix(".c"))])
        for name in module_list("NATIVE_MODULES")
    ]


def missing_toolchain() -> str | None:
    """Why a C extension cannot be built here, or None."""
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        return f"no Python headers ({include}/Python.h; Debian: apt install python3-dev)"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypy (mypyc) is not installed in the build environment"
    return None


def say(message: str) -> None:
    print(f"pronghorn build: {message}", file=sys.stderr, flush=True)


class AllOrNothingBuildExt(build_ext):
    """In auto mode a failed compile leaves no compiled file behind: the package is pure."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # compiler errors are DistutilsError/CompileError/OSError
            if build_mode() == "compiled":
                raise
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            self.extensions = []
            say(f"compiling failed ({error}); building the pure-Python package")


def extensions() -> list[object]:
    mode = build_mode()
    if mode == "pure":
        say("PRONGHORN_BUILD=pure: pure-Python package")
        return []
    missing = missing_toolchain()
    if missing is not None:
        if mode == "compiled":
            raise SystemExit(f"PRONGHORN_BUILD=compiled but {missing}")
        say(f"{missing}: building the pure-Python package")
        return []
    from mypyc.build import mypycify

    paths = [
        str(Path("src", *name.split(".")).with_suffix(".py"))
        for name in module_list("COMPILED_MODULES")
    ]
    try:
        modules = mypycify(paths, opt_level="3")
    except BaseException as error:  # mypy reports type errors by SystemExit
        if mode == "compiled":
            raise
        say(f"mypyc failed ({error!r}); building the pure-Python package")
        return []
    native = native_extensions()
    say(f"compiling {len(paths)} modules with mypyc and {len(native)} written in C")
    return [*modules, *native]


# Only a build compiles: the backend also runs this file for metadata (egg_info, dist_info).
BUILDS = {"build", "build_ext", "bdist_wheel", "bdist", "install"}
building = any(argument in BUILDS for argument in sys.argv[1:])
setup(
    ext_modules=extensions() if building else [],
    cmdclass={"build_ext": AllOrNothingBuildExt},
)
