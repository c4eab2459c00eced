"""The compiled build's C accept and read of a plain connection (_sockcalls.c)."""

def accept_connection(listen_fd: int) -> tuple[int, tuple[str, int] | None] | None:
    """One waiting connection as (non-blocking descriptor, (host, port) or None for a Unix
    socket), or None when none is waiting."""

def receive(fd: int, size: int) -> bytes | None:
    """Up to `size` bytes, b"" at the end of the stream, or None when none has arrived."""
