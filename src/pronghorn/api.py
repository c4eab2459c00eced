"""`pronghorn.serve(app, ...)`: run the server for a WSGI callable from Python.

Owns: turning keyword arguments into a `Config` through the settings registry (the same
kinds, checks and messages as the command line; `pronghorn.config.sources.read_keywords`),
and handing the application object to the path the `pronghorn` command runs
(`pronghorn.cli.run`): a master and its workers, or one process with `single_process=True`.

The object is never imported by name: the master holds it, as with --preload, and each
worker inherits it at the fork. Two things need an importable name and are refused or
cannot work: `reload=True` (a `ConfigError` at once) and a USR2 upgrade (the new master,
`python -m pronghorn` with no application, exits and the running one carries on).
Unlike the command, `serve` reads no `PRONGHORN_*` variable, no `GUNICORN_CMD_ARGS` and no
./pronghorn.toml or ./gunicorn.conf.py; a config file is read only when `config=` names one
(its settings under the keywords).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pronghorn.cli import Start, run
from pronghorn.config.model import Config
from pronghorn.config.sources import over_file, read_keywords
from pronghorn.errors import ConfigError
from pronghorn.logs import configure

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve(
    app: WSGIApplication | None,
    host: str | None = None,
    port: int | str | None = None,
    **settings: object,
) -> int:
    """Serve the WSGI callable `app` until the server is stopped; return the exit status.

    `settings` are the settings of docs/configuration.md under their registry names
    (`workers=2, threads=8, keep_alive=5, access_logfile="-"`), with Python values: an int
    for a count, a number for seconds, a bool for a switch, a list of strings for a
    repeatable setting (`bind`, `static`). `host` and `port` (default 127.0.0.1 and 8000)
    make one listening address; `bind=[...]` lists several instead and cannot be combined
    with them. `app` may be None when `static` is given.

    A configuration mistake raises `pronghorn.errors.ConfigError`, with the message the
    command line gives, before anything is bound; once serving, the return value is the
    status the `pronghorn` command would exit with (0 after a clean stop on SIGTERM or
    SIGINT). It must be called from the main thread, where those signals are handled.
    """
    given = read_keywords(with_address(host, port, settings, "serve()"), "serve()")
    return serve_settings(app, given)


def with_address(
    host: object, port: object, settings: Mapping[str, object], source: str
) -> dict[str, object]:
    """`settings` with `bind` set from `host` and `port`, when either is given."""
    if host is None and port is None:
        return dict(settings)
    if "bind" in settings:
        raise ConfigError(f"{source}: give host and port, or bind, not both")
    host = DEFAULT_HOST if host is None else str(host).strip()
    port = DEFAULT_PORT if port is None else port
    address = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return {**settings, "bind": address}


def serve_settings(app: WSGIApplication | None, given: Mapping[str, object]) -> int:
    """Serve `app` with settings already read by `read_keywords` (`serve`, `serve_paste`)."""
    if app is not None and not callable(app):
        raise TypeError(f"app must be a WSGI callable, not {type(app).__name__}")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("pronghorn.serve() runs in the main thread: it handles the signals")
    config = build(app, given)
    logs = configure(config)
    here = os.getcwd()

    def reconfigure() -> Config:
        # A reload (HUP) re-reads the config file, from where it was first read.
        now = os.getcwd()
        os.chdir(here)
        try:
            return build(app, given)
        finally:
            os.chdir(now)

    try:
        return run(config, logs, Start(None, here, reconfigure, app))
    finally:
        logs.close()


def build(app: WSGIApplication | None, given: Mapping[str, object]) -> Config:
    """The Config for serving the object `app` with the settings `given` (and their file)."""
    values = dict(given)
    if app is not None:
        values["app"] = describe(app)
    path = values.get("config")
    config = over_file(str(path) if path else None, values)
    if config.reload:
        raise ConfigError(
            "reload cannot work with an application object: it restarts workers to import "
            "changed code by name. Run `pronghorn --reload MODULE:APP` instead"
        )
    return config


def describe(app: object) -> str:
    """What process titles and logs call an application object: `module:name` for a
    function or class, the type's dotted name otherwise. Never imported."""
    name = getattr(app, "__qualname__", None)
    module = getattr(app, "__module__", None)
    if isinstance(name, str) and isinstance(module, str):
        return f"{module}:{name}"
    kind = type(app)
    return f"{kind.__module__}.{kind.__qualname__} object"
