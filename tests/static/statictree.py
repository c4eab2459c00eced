"""The file tree the static tests serve, and how they start servers over it.

The tree (`build_tree`)::

    root/                  served at /static (and at / by the no-app server)
      empty.bin            0 B
      one-k.txt            1 KiB text
      one-m.bin            1 MiB random
      twenty-m.bin         20 MiB random
      style.css, style.css.gz, style.css.br   precompressed siblings
      only-gz.js, only-gz.js.gz
      café ñ.txt           non-ASCII name
      .env, .git/config    dotfiles
      sub/index.html, nolist/a.txt
      inside-link -> one-k.txt, outside-link -> ../secret.txt, outside-dir -> ..
      main.0123abcd89.css  a fingerprinted name
    media/                 served at /media
      m.txt
    secret.txt             outside every mount
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from serverproc import ServerPool, ServerProcess  # noqa: E402

SECRET = b"TOP-SECRET-do-not-serve-7f3a"
UNICODE_NAME = "café ñ.txt"


@dataclass(frozen=True)
class Tree:
    base: Path
    root: Path
    media: Path
    digests: dict[str, str]


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 1 << 20))
            out.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def build_tree(base: Path) -> Tree:
    root, media = base / "root", base / "media"
    root.mkdir()
    media.mkdir()
    (base / "secret.txt").write_bytes(SECRET)
    digests = {
        "empty.bin": _random_file(root / "empty.bin", 0),
        "one-m.bin": _random_file(root / "one-m.bin", 1 << 20),
        "twenty-m.bin": _random_file(root / "twenty-m.bin", 20 << 20),
    }
    (root / "one-k.txt").write_bytes(b"0123456789abcdef" * 64)
    css = b"body { background: #f6f1e7; }\n" * 20
    (root / "style.css").write_bytes(css)
    (root / "style.css.gz").write_bytes(gzip.compress(css))
    (root / "style.css.br").write_bytes(b"BROTLI-STAND-IN:" + css[:40])
    (root / "only-gz.js").write_bytes(b"console.log(1);\n")
    (root / "only-gz.js.gz").write_bytes(gzip.compress(b"console.log(1);\n"))
    (root / UNICODE_NAME).write_bytes("unicode ok ✓".encode())
    (root / ".env").write_bytes(SECRET)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(SECRET)
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<p>sub index</p>")
    (root / "nolist").mkdir()
    (root / "nolist" / "a.txt").write_bytes(b"a")
    (root / "main.0123abcd89.css").write_bytes(b"p{}")
    (root / "aux.txt").write_bytes(SECRET)
    (root / "inside-link").symlink_to("one-k.txt")
    (root / "outside-link").symlink_to(base / "secret.txt")
    (root / "outside-dir").symlink_to(base)
    (root / "fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(root / "fifo")
    (media / "m.txt").write_bytes(b"media file")
    return Tree(base, root, media, digests)


def past_its_tick(path: Path) -> None:
    """Return once a change to `path` is bound to get a later ctime (poll, with a deadline).

    File timestamps come from a clock that ticks every few ms (every second on some file
    systems); a change within the same tick as the last one would keep ctime equal.
    """
    ctime = os.stat(path).st_ctime_ns
    tick = 1_000_000_000 if ctime % 1_000_000_000 == 0 else 50_000_000
    _wait_for_clock(ctime + tick)


def settled(paths: list[Path]) -> None:
    """Return once the server may keep these files in its cache (`cache.SETTLE_NS`)."""
    from pronghorn.static.cache import SETTLE_NS

    _wait_for_clock(max(os.stat(path).st_ctime_ns for path in paths) + SETTLE_NS)


def _wait_for_clock(ns: int) -> None:
    deadline = time.monotonic() + 30
    while time.time_ns() <= ns:
        assert time.monotonic() < deadline, "the clock does not move"
        time.sleep(0.01)


def start(pool: ServerPool, tree: Tree, *args: str) -> ServerProcess:
    return pool(
        "--bind",
        "127.0.0.1:0",
        "--threads",
        "8",
        "--access-logfile",
        "-",
        *args,
        cwd=_HERE,
        env={"STATICAPP_FILES": str(tree.root)},
    )
