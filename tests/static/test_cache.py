"""The static cache's parts on their own: the bounded map, identities, and when to trust them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from statictree import past_its_tick

from nativebuild import build_native
from pronghorn.static import cache
from pronghorn.static.cache import BoundedCache, Entry, Representation
from pronghorn.static.conditions import Validators


def _native_check() -> cache.Check:
    """The C check: the installed one in the compiled run, the same source built here in the
    pure run (tests/nativebuild.py)."""
    if cache.NATIVE_FILES_UNCHANGED is not None:
        return cache.NATIVE_FILES_UNCHANGED
    built: cache.Check = build_native("pronghorn.static._freshness").files_unchanged
    return built


NATIVE = _native_check()
CHECKS = {"python": cache.files_unchanged, "c": NATIVE}


@pytest.fixture(params=sorted(CHECKS))
def unchanged(request: pytest.FixtureRequest) -> Callable[[Entry], bool]:
    """`cache.unchanged` with each implementation of the check: the Python one and the C one
    must agree on every case."""
    check = CHECKS[request.param]
    return lambda entry: check(
        entry.path, entry.identity, entry.siblings, entry.parent, entry.parent_identity
    )


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


def test_unchanged_sees_every_kind_of_change(
    tmp_path: Path, unchanged: Callable[[Entry], bool]
) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    gz = os.fsencode(tmp_path / "f.txt.gz")
    entry = _entry(path, ((gz, None),))
    assert unchanged(entry)

    stamp = os.stat(path)
    past_its_tick(path)
    path.write_bytes(b"xyz")  # same size; mtime put back as `cp -p` would: ctime still moves
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == stamp.st_mtime_ns
    assert not unchanged(entry)

    entry = _entry(path, ((gz, None),))
    past_its_tick(path)
    os.chmod(path, 0o600)
    assert not unchanged(entry)

    entry = _entry(path, ((gz, None),))
    Path(os.fsdecode(gz)).write_bytes(b"sibling")  # a sibling appears
    assert not unchanged(entry)

    entry = _entry(path, ((gz, cache.identity(os.stat(gz))),))
    assert unchanged(entry)
    os.unlink(gz)  # ... and goes
    assert not unchanged(entry)

    entry = _entry(path, ((gz, None),))
    os.symlink(tmp_path / "nowhere", gz)  # a dangling link is no sibling
    assert unchanged(entry)
    (tmp_path / "nowhere").write_bytes(b"now it leads somewhere")
    assert not unchanged(entry)

    entry = _entry(path, ())
    os.unlink(path)
    assert not unchanged(entry)


@pytest.mark.parametrize("breakage", ["a file in place of the directory", "a symlink loop"])
def test_unchanged_is_false_when_stat_fails(
    tmp_path: Path, breakage: str, unchanged: Callable[[Entry], bool]
) -> None:
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
    assert not unchanged(entry)


def test_the_entry_point_uses_the_check_of_this_build(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    entry = _entry(path, ((os.fsencode(tmp_path / "f.txt.gz"), None),))
    assert cache.unchanged(entry)
    (tmp_path / "f.txt.gz").write_bytes(b"sibling")
    assert not cache.unchanged(entry)
    expected = "compiled" if cache.NATIVE_FILES_UNCHANGED is not None else "pure"
    assert (cache.NATIVE_FILES_UNCHANGED is NATIVE) == (expected == "compiled")


def test_c_check_answers_changed_for_numbers_no_stat_can_give(tmp_path: Path) -> None:
    """A number that fits no stat field (past 64 bits, below -2**63), and a path with a NUL
    in it, are "changed" (the full path then decides), never an error."""
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    raw = os.fsencode(path)
    known = cache.identity(os.stat(path))
    assert NATIVE(raw, known, (), b"", None)
    for index in range(5):
        for strange in (1 << 64, 1 << 100, -(1 << 63) - 1, known[index] + 1):
            changed = (*known[:index], strange, *known[index + 1 :])
            assert not NATIVE(raw, changed, (), b"", None), (index, strange)  # type: ignore[arg-type]
    assert not NATIVE(raw + b"\0x", known, (), b"", None)
    assert not NATIVE(raw, known, ((raw + b"\0.gz", known),), b"", None)
    assert NATIVE(raw, known, ((raw + b".gz", None), (raw, known)), b"", None)
    assert not NATIVE(raw, known, ((raw, None),), b"", None)  # "absent", but there


@pytest.mark.parametrize(
    "arguments",
    [
        ("not bytes", (1, 2, 3, 4, 5), (), b"/", None),
        (b"/", (1, 2, 3, 4), (), b"/", None),
        (b"/", (1, 2, 3, 4, "5"), (), b"/", None),
        (b"/", None, (), b"/", None),
        (b"/", (1, 2, 3, 4, 5), [(b"/x", None)], b"/", None),
        (b"/", (1, 2, 3, 4, 5), ((b"/x",),), b"/", None),
        (b"/", (1, 2, 3, 4, 5), ((b"/x", (1, 2)),), b"/", None),
        (b"/", (1, 2, 3, 4, 5), (), "/", None),
        (b"/", (1, 2, 3, 4, 5), (), b"/", (1, 2)),
        (b"/", (1, 2, 3, 4, 5), ()),
    ],
)
def test_c_check_refuses_arguments_of_the_wrong_shape(arguments: tuple[object, ...]) -> None:
    with pytest.raises(TypeError):
        NATIVE(*arguments)  # type: ignore[arg-type]


def test_c_check_refuses_more_siblings_than_an_entry_has() -> None:
    many = tuple((b"/nowhere/%d" % n, None) for n in range(9))
    with pytest.raises(ValueError):
        NATIVE(b"/", (1, 2, 3, 4, 5), many, b"/", None)


def _with_folder(entry: Entry, folder: Path) -> Entry:
    """`entry` with the folder's shortcut: `folder` and its identity now."""
    return Entry(
        entry.path,
        entry.directory,
        entry.identity,
        entry.siblings,
        entry.representations,
        os.fsencode(folder),
        cache.identity(os.stat(folder)),
    )


def test_folder_shortcut_answers_for_absent_siblings(
    tmp_path: Path, unchanged: Callable[[Entry], bool]
) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    gz = os.fsencode(tmp_path / "f.txt.gz")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "there").write_bytes(b"x")
    # An "absent" sibling that exists, in another folder: only a check that trusts the
    # folder's identity instead of probing says unchanged.
    trusting = _with_folder(_entry(path, ((os.fsencode(elsewhere / "there"), None),)), tmp_path)
    assert unchanged(trusting)
    entry = _with_folder(_entry(path, ((gz, None),)), tmp_path)
    assert unchanged(entry)

    past_its_tick(tmp_path)
    (tmp_path / "other.txt").write_bytes(b"another name in the folder")
    assert unchanged(entry)  # the folder changed: each absent sibling probed, still absent
    assert not unchanged(trusting)  # ... and the one that exists is seen

    entry = _with_folder(_entry(path, ((gz, None),)), tmp_path)
    past_its_tick(tmp_path)
    Path(os.fsdecode(gz)).write_bytes(b"sibling")  # a sibling appears: the folder changes
    assert not unchanged(entry)

    # A folder whose stat fails: the probes decide, as when it changed.
    os.unlink(os.fsdecode(gz))
    (tmp_path / "gone").mkdir()
    vanishing = _with_folder(_entry(path, ((gz, None),)), tmp_path / "gone")
    os.rmdir(tmp_path / "gone")
    assert unchanged(vanishing)
    Path(os.fsdecode(gz)).write_bytes(b"sibling")
    assert not unchanged(vanishing)


def test_folder_shortcut_with_numbers_no_stat_gives_falls_back_to_probes(
    tmp_path: Path, unchanged: Callable[[Entry], bool]
) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    elsewhere = tmp_path / "there"
    elsewhere.write_bytes(b"x")
    entry = _entry(path, ((os.fsencode(elsewhere), None),))
    strange = Entry(
        entry.path,
        entry.directory,
        entry.identity,
        entry.siblings,
        entry.representations,
        os.fsencode(tmp_path),
        (1 << 64, 0, 0, 0, 0),
    )
    assert not unchanged(strange)  # no folder's identity holds: the probe sees it
