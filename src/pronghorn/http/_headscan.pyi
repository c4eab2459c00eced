"""The compiled build's C fast path for a whole, plain request head (_headscan.c)."""

ScannedHead = tuple[
    int, str, bytes, str, list[tuple[bytes, bytes]], int, int, bytes, bytes, int | None
]

def scan_head(data: bytes, pos: int, bounds: tuple[int, ...]) -> ScannedHead | None:
    """(stop, method, target, version, fields, field count, index of Host in fields or -1,
    Connection, Expect, Content-Length or None) of the head at `pos`, or None when the
    general path must read it."""
