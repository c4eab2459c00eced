"""Process titles (`pronghorn: master [NAME]`), where the optional setproctitle is installed.

NAME is --proc-name (gunicorn's --name), else APP, else 'static'.
"""

from __future__ import annotations

import importlib.util

from pronghorn.config.model import Config

INSTALL_HINT = "pip install pronghorn[setproctitle]"


def title_name(config: Config) -> str:
    """The name process titles show."""
    return config.proc_name or config.app or "static"


def can_set_titles() -> bool:
    """Whether setproctitle is installed."""
    return importlib.util.find_spec("setproctitle") is not None


def set_title(title: str) -> None:
    """Set this process's title for ps and top; do nothing without setproctitle."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)
