"""The live view: a frame every interval, redrawn in place, until `q` or Ctrl-C.

Owns `run_live(source, interval, terminal)`. On a terminal it switches to the alternate
screen and hides the cursor, puts the keyboard in cbreak mode (keys arrive one at a time,
Ctrl-C still interrupts), and redraws by moving the cursor home and clearing what each line
and the screen below leave over: plain ANSI codes, which every terminal emulator in use
understands, so no curses. It gives the terminal back as it found it however it ends (`q`,
SIGINT, SIGTERM, an error). Not on a terminal, it prints the frames one after another,
with a blank line between them, as `top -b` does.

A scrape that fails once the view runs (the server restarting, say) is shown in the frame
and retried at the next interval; top exits only when the user says so.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import termios
import time
import tty
from collections.abc import Iterator
from types import FrameType
from typing import TextIO

from pronghorn.metrics.textformat import Scrape
from pronghorn.top.frame import compute_frame
from pronghorn.top.render import render
from pronghorn.top.source import MetricsSource, TopError

ENTER = "\x1b[?1049h\x1b[?25l"  # the alternate screen; the cursor hidden
LEAVE = "\x1b[?25h\x1b[?1049l"
HOME = "\x1b[H"
CLEAR_LINE = "\x1b[K"
CLEAR_BELOW = "\x1b[J"
QUIT_KEYS = frozenset("qQ")


class _Stop(Exception):
    """SIGTERM while the view runs: leave as for q."""


def run_live(source: MetricsSource, interval: float, out: TextIO, keys: TextIO) -> int:
    """Show frames until the user quits; the exit status (0)."""
    terminal = out.isatty()
    before = source.scrape()  # an unreachable listener fails here, before the screen changes
    taken = time.monotonic()
    with _terminal(out, keys, terminal):
        _show(out, render(None, source.url, source.readiness(), _width()), terminal)
        try:
            keyboard = keys if terminal and keys.isatty() else None
            while not _wait_for_quit(keyboard, interval):
                lines, before, taken = _next_frame(source, before, taken)
                _show(out, lines, terminal)
        except (KeyboardInterrupt, _Stop):
            pass
    return 0


def _next_frame(
    source: MetricsSource, before: Scrape, taken: float
) -> tuple[list[str], Scrape, float]:
    try:
        after = source.scrape()
    except TopError as exc:
        return [f"pronghorn top  {source.url}", f"{exc} (retrying)"], before, taken
    now = time.monotonic()
    frame = compute_frame(before, after, now - taken)
    return render(frame, source.url, source.readiness(), _width()), after, now


def _show(out: TextIO, lines: list[str], terminal: bool) -> None:
    if terminal:
        height = shutil.get_terminal_size().lines
        text = "".join(line + CLEAR_LINE + "\n" for line in lines[: max(1, height - 1)])
        out.write(HOME + text + CLEAR_BELOW)
    else:
        out.write("\n".join(lines) + "\n\n")
    out.flush()


def _width() -> int:
    return max(40, shutil.get_terminal_size().columns)


def _wait_for_quit(keys: TextIO | None, seconds: float) -> bool:
    """Wait `seconds`; True as soon as a quit key is typed (`keys` None: no keyboard)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if keys is None:
            time.sleep(left)  # the interval between two frames
            continue
        ready, _, _ = select.select([keys], [], [], left)
        if ready:
            typed = os.read(keys.fileno(), 64).decode("utf-8", "replace")
            if not typed or QUIT_KEYS & set(typed):
                return True


@contextlib.contextmanager
def _terminal(out: TextIO, keys: TextIO, terminal: bool) -> Iterator[None]:
    """The terminal set up for the view, and given back whatever happens."""

    def stop(number: int, frame: FrameType | None) -> None:
        raise _Stop

    previous_term = signal.signal(signal.SIGTERM, stop)
    saved = None
    if terminal and keys.isatty():
        saved = termios.tcgetattr(keys.fileno())
        tty.setcbreak(keys.fileno())
    if terminal:
        out.write(ENTER)
        out.flush()
    try:
        yield
    finally:
        if terminal:
            out.write(LEAVE)
            out.flush()
        if saved is not None:
            termios.tcsetattr(keys.fileno(), termios.TCSADRAIN, saved)
        signal.signal(signal.SIGTERM, previous_term)
