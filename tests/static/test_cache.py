"""The static cache's parts on their own: the bounded map, identities, and when to trust them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from statictree import past_its_tick

from pronghorn.static import cache
from pronghorn.static.cache import BoundedCache, Entry, Representation
from pronghorn.static.conditions import Validators


def test_bounded_cache_keeps_at_most_max_entries_oldest_out_first() -> None:
    box: BoundedCache[str, int] = BoundedCache(3)
    for number in range(5):
        assert box.put(f"k{number}", number)
    assert len(box) == 3
    assert [box.get(f"k{n}") for n in range(5)] == [None, None, 2, 3, 4]


def test_bounded_cache_replacing_a_key_makes_it_the_newest() -> None:
    box: BoundedCache[str, int] = BoundedCache(2)
    box.put("a", 1)
    box.put("b", 2)
    box.put("a", 10)
    box.put("c", 3)
    assert box.get("a") == 10 and box.get("b") is None and box.get("c") == 3


def test_bounded_cache_weight_budget() -> None:
    box: BoundedCache[str, str] = BoundedCache(100, max_weight=10)
    assert box.put("a", "a", 4)
    assert box.put("b", "b", 4)
    assert box.weight == 8
    assert box.put("c", "c", 4)  # evicts "a", the oldest
    assert (box.get("a"), box.get("b"), box.get("c")) == (None, "b", "c")
    assert box.weight == 8
    assert not box.put("huge", "x", 11)  # never fits: refused, nothing evicted
    assert len(box) == 2 and box.weight == 8
    assert box.put("b", "b2", 1)  # replacing gives the old weight back
    assert box.weight == 5
    assert box.put("ten", "t", 10)  # fits alone: everything else goes
    assert len(box) == 1 and box.weight == 10


def test_bounded_cache_zero_entries_is_off() -> None:
    box: BoundedCache[str, int] = BoundedCache(0, max_weight=100)
    assert not box.enabled
    assert not box.put("a", 1)
    assert box.get("a") is None and len(box) == 0


def test_bounded_cache_drop_only_the_value_seen() -> None:
    box: BoundedCache[str, list[int]] = BoundedCache(4, max_weight=100)
    old, new = [1], [2]
    box.put("k", old, 5)
    box.put("k", new, 7)
    box.drop("k", old)  # another thread replaced it meanwhile: keep the new one
    assert box.get("k") is new and box.weight == 7
    box.drop("k", new)
    assert box.get("k") is None and box.weight == 0 and len(box) == 0


def test_bounded_cache_under_threads_keeps_its_bounds() -> None:
    box: BoundedCache[int, int] = BoundedCache(50, max_weight=500)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for number in range(3000):
                key = (number * 7 + seed) % 200
                box.put(key, number, number % 20)
                value = box.get((key + 1) % 200)
                if value is not None and number % 3 == 0:
                    box.drop((key + 1) % 200, value)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(box) <= 50 and box.weight <= 500
    assert box.weight == sum(box._weights.values())


def test_identity_and_settled(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    info = os.stat(path)
    ident = cache.identity(info)
    assert ident == (info.st_dev, info.st_ino, 3, info.st_mtime_ns, info.st_ctime_ns)
    ctime = info.st_ctime_ns
    assert cache.settled(ident, ctime + cache.SETTLE_NS + 1)
    assert not cache.settled(ident, ctime + cache.SETTLE_NS)
    assert not cache.settled(ident, ctime + 1, settle_ns=3600 * 10**9)
    assert cache.settled(ident, ctime + 1, settle_ns=0)


def _entry(path: Path, siblings: tuple[tuple[bytes, cache.Identity | None], ...]) -> Entry:
    ident = cache.identity(os.stat(path))
    rep = Representation(
        path=os.fsencode(path),
        identity=ident,
        coding="",
        validators=Validators('"x"', 0),
        headers=[],
        ok_headers=[],
        ok_head=b"",
        not_modified_headers=[],
        not_modified_head=b"",
        body=None,
    )
    return Entry(os.fsencode(path), False, ident, siblings, {"": rep})


def test_unchanged_sees_every_kind_of_change(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    gz = os.fsencode(tmp_path / "f.txt.gz")
    entry = _entry(path, ((gz, None),))
    assert cache.unchanged(entry)

    stamp = os.stat(path)
    past_its_tick(path)
    path.write_bytes(b"xyz")  # same size; mtime put back as `cp -p` would: ctime still moves
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == stamp.st_mtime_ns
    assert not cache.unchanged(entry)

    entry = _entry(path, ((gz, None),))
    past_its_tick(path)
    os.chmod(path, 0o600)
    assert not cache.unchanged(entry)

    entry = _entry(path, ((gz, None),))
    Path(os.fsdecode(gz)).write_bytes(b"sibling")  # a sibling appears
    assert not cache.unchanged(entry)

    entry = _entry(path, ((gz, cache.identity(os.stat(gz))),))
    assert cache.unchanged(entry)
    os.unlink(gz)  # ... and goes
    assert not cache.unchanged(entry)

    entry = _entry(path, ((gz, None),))
    os.symlink(tmp_path / "nowhere", gz)  # a dangling link is no sibling
    assert cache.unchanged(entry)
    (tmp_path / "nowhere").write_bytes(b"now it leads somewhere")
    assert not cache.unchanged(entry)

    entry = _entry(path, ())
    os.unlink(path)
    assert not cache.unchanged(entry)


@pytest.mark.parametrize("breakage", ["a file in place of the directory", "a symlink loop"])
def test_unchanged_is_false_when_stat_fails(tmp_path: Path, breakage: str) -> None:
    # Both make os.stat raise (ENOTDIR, ELOOP) whoever runs the tests, root included.
    sub = tmp_path / "sub"
    sub.mkdir()
    path = sub / "f.txt"
    path.write_bytes(b"abc")
    entry = _entry(path, ())
    sub.rename(tmp_path / "moved")
    if breakage == "a symlink loop":
        sub.symlink_to(sub)
    else:
        sub.write_bytes(b"not a directory")
    with pytest.raises(OSError):
        os.stat(path)
    assert not cache.unchanged(entry)
