"""The escape format of the raw-request corpora (`tests/http/corpus/`, `tests/interop/corpus/`).

A corpus `.http` file holds raw bytes written with visible escapes: `\\r \\n \\t \\0 \\xHH`
and `\\\\` for a backslash. Real newlines in the file are ignored, so that each request
line can sit on its own file line.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[rnt0\\]|.|$)", re.DOTALL)
_SIMPLE = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\x00", b"\\": b"\\"}


def unescape(text: str) -> bytes:
    """The bytes a corpus file (or an escaped JSON string) stands for."""
    raw = text.replace("\r", "").replace("\n", "").encode("ascii")

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if len(code) != 3 and code not in _SIMPLE:
            raise ValueError(f"unknown escape \\{code!r} in {text!r}")
        return bytes([int(code[1:], 16)]) if code[:1] == b"x" else _SIMPLE[code]

    return _ESCAPE.sub(one, raw)
