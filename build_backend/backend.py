"""The build backend: setuptools' own, asking for mypy only when the build may compile.

A compiled build needs mypy (mypyc) at build time; a pure one needs nothing beyond
setuptools. So mypy is a build requirement when PRONGHORN_BUILD=compiled, and in auto mode
only when a C compiler and Python's headers are present (otherwise auto builds pure and
mypy would be downloaded for nothing). Editable installs are always pure. setup.py
explains the modes.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F403 (the rest of the backend, unchanged)

# The mypy that compiles the wheel: the same range the tests type-check with.
MYPY_REQUIREMENT = "mypy>=1.10"


def _may_compile() -> bool:
    mode = os.environ.get("PRONGHORN_BUILD", "auto").strip().lower() or "auto"
    if mode == "compiled":
        return True
    if mode != "auto":
        return False
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(compiler) is not None and headers.exists()


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    requires = build_meta.get_requires_for_build_wheel(config_settings)
    return [*requires, MYPY_REQUIREMENT] if _may_compile() else requires


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    return build_meta.get_requires_for_build_editable(config_settings)


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    # Compiled files in src/ would shadow the sources being edited: editable is pure.
    os.environ["PRONGHORN_BUILD"] = "pure"
    return build_meta.build_editable(wheel_directory, config_settings, metadata_directory)
