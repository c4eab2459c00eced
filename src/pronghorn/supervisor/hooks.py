"""Config-file hooks, called with gunicorn's signatures.

Owns: `ServerView` and `WorkerView`, the small objects hooks receive in place of gunicorn's
arbiter and worker (the attributes hooks commonly use: `pid`, `log`, `cfg`, `num_workers`,
`age`, `ppid`), and `call_hook`, the boundary where a hook's exception is logged, not raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pronghorn.config.model import Config


@dataclass(slots=True)
class ServerView:
    """What a hook sees of the master."""

    pid: int
    log: logging.Logger
    cfg: Config
    num_workers: int


@dataclass(slots=True)
class WorkerView:
    """What a hook sees of one worker; `pid` is 0 in `pre_fork`, before the fork."""

    pid: int
    ppid: int
    age: int
    log: logging.Logger


def call_hook(config: Config, name: str, log: logging.Logger, *args: object) -> None:
    """Call the config file's hook `name` if it has one; log (and swallow) its errors."""
    hook = config.extras.hook(name)
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:  # the user's code: a failing hook must not take the server down
        log.exception("the %s hook failed", name)
