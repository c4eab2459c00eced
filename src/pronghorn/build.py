"""Which build of pronghorn is running: compiled (mypyc) or pure Python, and the one list of
modules that the compiled build compiles.

`COMPILED_MODULES` is read by `setup.py` (without importing pronghorn) and by `running_build()`;
change the compiled set here and nowhere else. `PRONGHORN_PURE=1` in the environment makes a
compiled install run its pure-Python sources instead (`prefer_pure_sources`, called once by
`pronghorn/__init__.py`): the `.py` files ship beside the compiled ones, and a finder placed
first on `sys.meta_path` loads them for these names.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Final

# The hot path: parsing, the WSGI call, static files and the engine. Left out, and why
# (docs/design.md, "Writing code that compiles correctly"): package `__init__` modules
# (nothing hot, and a compiled package root complicates the pure-source switch);
# `pronghorn.channel` (Protocols and an OSError subclass, which mypyc cannot compile as a
# native class; nothing in it runs per request).
COMPILED_MODULES: Final = (
    "pronghorn.http.connection",
    "pronghorn.http.events",
    "pronghorn.http.fields",
    "pronghorn.http.limits",
    "pronghorn.http.parser",
    "pronghorn.http.proxy_protocol",
    "pronghorn.http.response",
    "pronghorn.http.sections",
    "pronghorn.http.target",
    "pronghorn.http.uwsgi",
    "pronghorn.wsgi.environ",
    "pronghorn.wsgi.file_wrapper",
    "pronghorn.wsgi.forwarded",
    "pronghorn.wsgi.head_memo",
    "pronghorn.wsgi.headers",
    "pronghorn.wsgi.input",
    "pronghorn.wsgi.proxies",
    "pronghorn.wsgi.runner",
    "pronghorn.wsgi.tls_variables",
    "pronghorn.wsgi.uwsgi_environ",
    "pronghorn.static.cache",
    "pronghorn.static.codings",
    "pronghorn.static.conditions",
    "pronghorn.static.content_types",
    "pronghorn.static.paths",
    "pronghorn.static.ranges",
    "pronghorn.static.responder",
    "pronghorn.static.lookup",
    "pronghorn.static.answer",
    "pronghorn.metrics.recorder",
    "pronghorn.dispatch.settings",
    "pronghorn.dispatch.requests",
    "pronghorn.dispatch.request_hooks",
    "pronghorn.io.contracts",
    "pronghorn.io.batching",
    "pronghorn.io.outbox",
    "pronghorn.io.sockets",
    "pronghorn.io.socket_channel",
    "pronghorn.io.client",
    "pronghorn.io.listeners",
    "pronghorn.io.observer",
    "pronghorn.io.parked",
    "pronghorn.io.preamble",
    "pronghorn.io.protocols",
    "pronghorn.io.reactor",
    "pronghorn.io.stream",
    "pronghorn.io.tls",
    "pronghorn.io.tls_connection",
    "pronghorn.io.worker",
)

# C extensions of the compiled build that have no Python source: their importers fall back
# to a general path without them (pronghorn.http.parser, pronghorn.io.sockets,
# pronghorn.static.cache). Built with
# the mypyc modules, all or nothing (setup.py); PRONGHORN_PURE=1 does not load them.
NATIVE_MODULES: Final = (
    "pronghorn.http._headscan",
    "pronghorn.io._sockcalls",
    "pronghorn.static._freshness",
)

# The module whose loader tells which build is running (every compiled build compiles it).
PROBE_MODULE: Final = "pronghorn.http.parser"
PURE_SWITCH: Final = "PRONGHORN_PURE"
# Read at build time by setup.py and build_backend/backend.py, which cannot import pronghorn
# and spell it themselves; named here so the settings reader knows it too.
BUILD_SWITCH: Final = "PRONGHORN_BUILD"
# The PRONGHORN_* variables that choose a build, not a setting: `pronghorn` is started with
# them in its environment (a compiled install run pure, a shell that just built a wheel),
# and the settings reader must not take them for misspelt settings (PRONGHORN_PURE is close
# to PRONGHORN_USER, PRONGHORN_BUILD to PRONGHORN_BIND).
BUILD_VARIABLES: Final = frozenset({PURE_SWITCH, BUILD_SWITCH})


def running_build() -> str:
    """'compiled' when the compiled modules are what imports, else 'pure' (with the reason)."""
    if os.environ.get(PURE_SWITCH) == "1" and _has_extension(PROBE_MODULE):
        return f"pure ({PURE_SWITCH}=1)"
    spec = importlib.util.find_spec(PROBE_MODULE)
    if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return "compiled"
    return "pure"


def _has_extension(name: str) -> bool:
    """Whether a compiled file for `name` sits in its package directory."""
    package, _, leaf = name.rpartition(".")
    parent = importlib.util.find_spec(package)
    if parent is None or not parent.submodule_search_locations:
        return False
    for directory in parent.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            if os.path.exists(os.path.join(directory, leaf + suffix)):
                return True
    return False


class _PureSourceFinder:
    """Finds the `.py` file of a compiled module, so the compiled one is not loaded."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name in NATIVE_MODULES:
            raise ModuleNotFoundError(f"{name} is not loaded with {PURE_SWITCH}=1", name=name)
        if name not in COMPILED_MODULES or not path:
            return None
        leaf = name.rpartition(".")[2]
        for directory in path:
            source = os.path.join(directory, leaf + ".py")
            if os.path.exists(source):
                loader = importlib.machinery.SourceFileLoader(name, source)
                return importlib.util.spec_from_file_location(name, source, loader=loader)
        return None


def prefer_pure_sources() -> None:
    """With PRONGHORN_PURE=1, load the compiled modules' Python sources instead."""
    if os.environ.get(PURE_SWITCH) != "1":
        return
    if not any(isinstance(finder, _PureSourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PureSourceFinder())
