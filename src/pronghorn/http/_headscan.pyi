"""The compiled build's C fast path for a whole, plain request head (_headscan.c)."""

from pronghorn.http.parser import ScannedHead

def scan_head(data: bytes, pos: int, bounds: tuple[int, ...]) -> ScannedHead | None:
    """The parts of the head at `pos` (see `ScannedHead`), or None when the general path
    must read it."""
