"""The compiled build's check that a kept static entry's files are unchanged (_freshness.c)."""

def files_unchanged(
    path: bytes,
    identity: tuple[int, int, int, int, int],
    siblings: tuple[tuple[bytes, tuple[int, int, int, int, int] | None], ...],
    parent: bytes,
    parent_identity: tuple[int, int, int, int, int] | None,
) -> bool:
    """True when `path` still has `identity` and each sibling still has its identity, or,
    where that is None, still does not exist (`parent` still has `parent_identity`, when
    given, or else a probe of the sibling)."""
