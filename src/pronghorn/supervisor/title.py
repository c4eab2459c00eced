"""Process titles (`pronghorn: master [app]`), where the optional setproctitle is installed."""

from __future__ import annotations


def set_title(title: str) -> None:
    """Set this process's title for ps and top; do nothing without setproctitle."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)
