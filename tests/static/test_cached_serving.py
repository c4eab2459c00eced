"""`StaticFiles` with its open-file cache, in-process: real files, a sink that collects bytes.

The cache must never change an answer: after any change on disk the next request is
answered as the full path would answer it. `settle_ns=0` lets these tests cache files they
have just written (the server waits `cache.SETTLE_NS`; see test_cache_over_sockets.py).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from statictree import past_its_tick

from pronghorn.config.model import StaticMount
from pronghorn.http.events import BodyKind, RequestHead
from pronghorn.static import StaticFiles, StaticOptions, answer, cache
from pronghorn.wsgi.runner import Outcome

DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
ONE_K = b"0123456789abcdef" * 64
SECRET = b"TOP-SECRET-outside-the-root"
CSS = b"body { color: #333; }\n" * 40


class Sink:
    """A `ResponseSink` that keeps what would go on the wire."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.finished = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.data += data

    def sendfile(self, file: BinaryIO, offset: int, count: int, head: bytes = b"") -> None:
        self.data += head + os.pread(file.fileno(), count, offset)

    def finish(self, data: bytes, keep_alive: bool, body: bytes = b"") -> None:
        self.data += data + body
        self.finished = True

    def abort(self) -> None:
        self.aborted = True


@dataclass
class Answer:
    outcome: Outcome
    wire: bytes

    @property
    def status(self) -> int:
        return self.outcome.status

    @property
    def body(self) -> bytes:
        return self.wire.partition(b"\r\n\r\n")[2]

    def header(self, name: str) -> str | None:
        head = self.wire.partition(b"\r\n\r\n")[0].decode("latin-1")
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(": ")
            if key.lower() == name.lower():
                return value
        return None


def ask(
    files: StaticFiles,
    target: str,
    method: str = "GET",
    version: str = "1.1",
    keep_alive: bool = True,
    **headers: str,
) -> Answer:
    raw = target.encode("latin-1")
    path, _, query = raw.partition(b"?")
    fields = [(b"Host", b"example.test")]
    fields += [(k.replace("_", "-").encode(), v.encode("latin-1")) for k, v in headers.items()]
    head = RequestHead(
        method, raw, path, query, version, fields, keep_alive, False, BodyKind.NONE, None
    )
    sink = Sink()
    outcome = files.serve(head, sink, DATE)
    assert outcome is not None
    assert sink.finished or sink.aborted
    return Answer(outcome, bytes(sink.data))


def _fields(outcome: Outcome) -> tuple[object, ...]:
    return (outcome.status, outcome.body_bytes, outcome.keep_alive, outcome.headers)


@dataclass
class Site:
    base: Path
    root: Path
    outside: Path


@pytest.fixture
def site(tmp_path: Path) -> Site:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "one-k.txt").write_bytes(ONE_K)
    (root / "empty.bin").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(200_000))
    (root / "style.css").write_bytes(CSS)
    (root / "style.css.gz").write_bytes(gzip.compress(CSS))
    (root / "style.css.br").write_bytes(b"BR:" + CSS[:50])
    (root / "only-gz.js").write_bytes(b"console.log(1);\n")
    (root / "only-gz.js.gz").write_bytes(gzip.compress(b"console.log(1);\n"))
    (root / "d").mkdir()
    (root / "d" / "index.html").write_bytes(b"<p>index</p>")
    (root / "sub").mkdir()
    (root / "sub" / "f.txt").write_bytes(b"inside file")
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "sub").mkdir()
    (outside / "sub" / "f.txt").write_bytes(SECRET)
    return Site(tmp_path, root, outside)


def make(site: Site, settle_ns: int = 0, **options: Any) -> StaticFiles:
    return StaticFiles(
        [StaticMount("", str(site.root))],
        StaticOptions(**options),
        has_app=False,
        error_log=logging.getLogger("test_cached_serving"),
        settle_ns=settle_ns,
    )


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths passed to `os.open` while the test runs (os.open still runs for real)."""
    seen: list[str] = []
    real_open = os.open

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> int:
        seen.append(os.fsdecode(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    yield seen


def replace_atomically(path: Path, data: bytes) -> None:
    """How deploy tools replace a file: write a new one, rename it over the old."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_bytes(data)
    os.replace(fresh, path)


# --- the cache is used ---------------------------------------------------------------------


def test_a_second_get_opens_nothing(site: Site, opens: list[str]) -> None:
    files = make(site)
    first = ask(files, "/one-k.txt")
    assert first.status == 200 and first.body == ONE_K
    assert opens
    opens.clear()
    second = ask(files, "/one-k.txt")
    assert second.wire == first.wire
    assert _fields(second.outcome) == _fields(first.outcome)
    assert opens == []
    assert len(files._entries) == 1 and files._entries.weight == len(ONE_K)


def test_large_files_keep_metadata_and_reopen_without_the_full_check(
    site: Site, opens: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make(site)
    first = ask(files, "/big.bin")
    assert first.body == (site.root / "big.bin").read_bytes()
    readlinks: list[object] = []
    real_readlink = os.readlink
    monkeypatch.setattr(os, "readlink", lambda *a: readlinks.append(a) or real_readlink(*a))
    opens.clear()
    again = ask(files, "/big.bin")
    assert again.wire == first.wire
    assert opens == [str(site.root / "big.bin")]  # reopened for sendfile ...
    assert readlinks == []  # ... without the containment check: its identity is the proof
    assert files._entries.weight == 0


def test_settings_turn_parts_off(site: Site, opens: list[str]) -> None:
    no_bytes = make(site, cache_bytes=0)
    ask(no_bytes, "/one-k.txt")
    opens.clear()
    assert ask(no_bytes, "/one-k.txt").body == ONE_K
    assert opens == [str(site.root / "one-k.txt")]  # metadata kept, bytes read again
    assert len(no_bytes._entries) == 1 and no_bytes._entries.weight == 0

    off = make(site, cache_entries=0)
    for _ in range(2):
        assert ask(off, "/one-k.txt").body == ONE_K
    assert len(off._entries) == 0 and len(off._routes) == 0


def test_recently_changed_files_are_not_kept(site: Site) -> None:
    files = make(site, settle_ns=3600 * 10**9)
    assert ask(files, "/one-k.txt").body == ONE_K
    assert len(files._entries) == 0


def test_bounds_are_kept(site: Site) -> None:
    for number in range(10):
        (site.root / f"n{number}.txt").write_bytes(bytes([65 + number]) * 1000)
    few = make(site, cache_entries=4)
    for number in range(10):
        assert ask(few, f"/n{number}.txt").body == bytes([65 + number]) * 1000
    assert len(few._entries) == 4 and len(few._routes) == 4
    small = make(site, cache_bytes=2500)
    for number in range(10):
        assert ask(small, f"/n{number}.txt").body == bytes([65 + number]) * 1000
        assert small._entries.weight <= 2500
    assert small._entries.weight == 2000
    # The newest are the ones kept, and they answer correctly.
    assert ask(small, "/n9.txt").body == b"J" * 1000
    # A file whose bytes alone exceed the budget is kept without them.
    tiny = make(site, cache_bytes=100)
    assert ask(tiny, "/one-k.txt").body == ONE_K
    assert len(tiny._entries) == 1 and tiny._entries.weight == 0


def test_refusals_and_app_paths_are_not_remembered(site: Site) -> None:
    files = make(site, cache_entries=8)
    for number in range(20):
        assert ask(files, f"/.hidden{number}").status == 404
        assert ask(files, f"/a/%2e%2e/{number}").status == 400
    assert len(files._routes) == 0


# --- the cache never changes an answer -----------------------------------------------------


def _normalised(answer: Answer) -> tuple[int, int, bool, list[tuple[str, str]], bytes]:
    boundary = re.search(rb"boundary=([0-9a-f]+)", answer.wire)
    wire = answer.wire
    headers = answer.outcome.headers
    if boundary:
        wire = wire.replace(boundary.group(1), b"BOUNDARY")
        text = boundary.group(1).decode()
        headers = [(k, v.replace(text, "BOUNDARY")) for k, v in headers]
    o = answer.outcome
    return o.status, o.body_bytes, o.keep_alive, list(headers), wire


Request = tuple[str, str, str, bool, dict[str, str]]
"""Target, method, HTTP version, keep-alive, header fields."""


def _requests(etag: str, gz_etag: str, last: str) -> list[Request]:
    old = "Sun, 06 Nov 1994 08:49:37 GMT"
    get = "GET"
    return [
        ("/one-k.txt", get, "1.1", True, {}),
        ("/one-k.txt", "HEAD", "1.1", True, {}),
        ("/one-k.txt", get, "1.0", True, {}),
        ("/one-k.txt", get, "1.0", False, {}),
        ("/one-k.txt", get, "1.1", False, {}),
        ("/one-k.txt?x=1", get, "1.1", True, {}),
        ("//one-k.txt", get, "1.1", True, {}),
        ("/one-k.txt", get, "1.1", True, {"If-None-Match": etag}),
        ("/one-k.txt", "HEAD", "1.1", True, {"If-None-Match": f"W/{etag}"}),
        ("/one-k.txt", get, "1.1", True, {"If-None-Match": '"nope"'}),
        ("/one-k.txt", get, "1.0", True, {"If-None-Match": "*"}),
        ("/one-k.txt", get, "1.1", True, {"If-Modified-Since": last}),
        ("/one-k.txt", get, "1.1", True, {"If-Modified-Since": old}),
        ("/one-k.txt", get, "1.1", True, {"If-Match": '"other"'}),
        ("/one-k.txt", get, "1.1", True, {"If-Match": etag}),
        ("/one-k.txt", get, "1.1", True, {"If-Unmodified-Since": old}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=0-9"}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=-5"}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=5000-"}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=x"}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=0-1,500-520,-3"}),
        ("/one-k.txt", "HEAD", "1.1", True, {"Range": "bytes=0-1"}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=0-9", "If-Range": etag}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=0-9", "If-Range": '"stale"'}),
        ("/one-k.txt", get, "1.1", True, {"Range": "bytes=0-9", "If-Range": last}),
        ("/empty.bin", get, "1.1", True, {}),
        ("/empty.bin", get, "1.1", True, {"Range": "bytes=0-"}),
        ("/big.bin", get, "1.1", True, {}),
        ("/big.bin", "HEAD", "1.0", True, {}),
        ("/big.bin", get, "1.1", True, {"Range": "bytes=100-199999"}),
        ("/big.bin", get, "1.1", True, {"Range": "bytes=0-9,100000-170000"}),
        ("/style.css", get, "1.1", True, {}),
        ("/style.css", get, "1.1", True, {"Accept-Encoding": "gzip, deflate, br"}),
        ("/style.css", get, "1.1", True, {"Accept-Encoding": "br;q=0, gzip"}),
        ("/style.css", get, "1.1", True, {"Accept-Encoding": "br;q=0, gzip;q=0"}),
        ("/style.css", "HEAD", "1.1", True, {"Accept-Encoding": "x-gzip"}),
        ("/style.css", get, "1.1", True, {"Accept-Encoding": "gzip", "If-None-Match": gz_etag}),
        ("/style.css", get, "1.1", True, {"If-None-Match": gz_etag}),
        ("/style.css", get, "1.1", True, {"Accept-Encoding": "gzip", "Range": "bytes=0-3"}),
        ("/only-gz.js", get, "1.1", True, {"Accept-Encoding": "br"}),
        ("/only-gz.js", get, "1.1", True, {"Accept-Encoding": "gzip"}),
        ("/d/", get, "1.1", True, {}),
        ("/d", get, "1.1", True, {}),
        ("/d?a=1", get, "1.1", True, {}),
        ("/d/index.html", get, "1.1", True, {}),
        ("/d/index.html/", get, "1.1", True, {}),
        ("/one-k.txt/", get, "1.1", True, {}),
        ("/missing.txt", get, "1.1", True, {}),
        ("/sub", "HEAD", "1.1", True, {}),
        ("/one-k.txt", "POST", "1.1", True, {}),
        ("/one-k.txt", "DELETE", "1.0", False, {}),
    ]


def test_cached_answers_are_the_uncached_answers(site: Site) -> None:
    plain = make(site, cache_entries=0)
    cached = make(site)
    first = ask(plain, "/one-k.txt")
    etag, last = first.header("ETag"), first.header("Last-Modified")
    gz_etag = ask(plain, "/style.css", Accept_Encoding="gzip").header("ETag")
    assert etag and last and gz_etag
    for target, method, version, keep_alive, headers in _requests(etag, gz_etag, last):
        expected = _normalised(ask(plain, target, method, version, keep_alive, **headers))
        for _ in range(2):  # first through the full path, then from the entry
            got = _normalised(ask(cached, target, method, version, keep_alive, **headers))
            assert got == expected, (target, method, version, keep_alive, headers)
    assert len(cached._entries) >= 6


def test_remembered_heads_follow_the_date_and_stay_bounded(site: Site) -> None:
    """A plain GET from the entry reuses its whole head per Date, version and keep-alive;
    a new Date (every second) gets a head of its own, and few are kept."""
    files = make(site)
    head = RequestHead(
        "GET", b"/one-k.txt", b"/one-k.txt", b"", "1.1", [], True, False, BodyKind.NONE, None
    )
    dates = [f"Sun, 06 Nov 1994 08:49:{second:02d} GMT" for second in range(10)]
    for date in dates + dates[:1]:
        for _ in range(2):  # the first through the full path, then from the entry
            sink = Sink()
            outcome = files.serve(head, sink, date)
            assert outcome is not None and outcome.status == 200
            assert f"\r\nDate: {date}\r\n".encode() in sink.data
            assert bytes(sink.data).endswith(b"\r\n\r\n" + ONE_K)
    entry = next(iter(files._entries._items.values()))
    heads = entry.representations[""].whole_heads
    assert 1 <= len(heads) <= answer.WHOLE_HEADS
    assert all(key[0] in dates for key in heads)


# --- changes on disk are seen --------------------------------------------------------------


def test_rewritten_same_size_same_mtime_is_served_fresh(site: Site) -> None:
    files = make(site)
    path = site.root / "one-k.txt"
    before = ask(files, "/one-k.txt")
    assert ask(files, "/one-k.txt").body == ONE_K
    stamp = os.stat(path)
    past_its_tick(path)
    fresh = ONE_K.upper()
    with open(path, "r+b") as out:  # in place: same inode, same size
        out.write(fresh)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # as `cp -p` would leave it
    after = ask(files, "/one-k.txt")
    assert after.body == fresh
    # Same inode, size and mtime: the ETag cannot tell the versions apart (as before the
    # cache), but the bytes are the new ones and the cache holds them now.
    assert after.header("ETag") == before.header("ETag")
    assert ask(files, "/one-k.txt").body == fresh


def test_replaced_file_gets_new_bytes_and_etag(site: Site) -> None:
    files = make(site)
    first = ask(files, "/one-k.txt")
    ask(files, "/one-k.txt")
    replace_atomically(site.root / "one-k.txt", b"new content")
    after = ask(files, "/one-k.txt")
    assert after.body == b"new content"
    assert after.header("ETag") != first.header("ETag")
    etag = first.header("ETag") or ""
    assert ask(files, "/one-k.txt", If_None_Match=etag).status == 200


def test_deleted_file_is_404(site: Site) -> None:
    files = make(site)
    for target in ("/one-k.txt", "/big.bin", "/d/"):
        assert ask(files, target).status == 200
        assert ask(files, target).status == 200
    os.unlink(site.root / "one-k.txt")
    os.unlink(site.root / "big.bin")
    os.unlink(site.root / "d" / "index.html")
    for target in ("/one-k.txt", "/big.bin", "/d/"):
        assert ask(files, target).status == 404
        assert ask(files, target).status == 404
    assert ask(files, "/d").status == 301


def test_file_replaced_by_symlink_out_of_the_root_is_refused(site: Site) -> None:
    files = make(site)
    for target in ("/one-k.txt", "/big.bin"):
        assert ask(files, target).status == 200
        assert ask(files, target).status == 200
        path = site.root / target.lstrip("/")
        os.unlink(path)
        path.symlink_to(site.outside / "secret.txt")
        refused = ask(files, target)
        assert refused.status == 404
        assert SECRET not in refused.wire


def test_directory_swapped_for_symlink_out_of_the_root_is_refused(site: Site) -> None:
    files = make(site)
    assert ask(files, "/sub/f.txt").body == b"inside file"
    assert ask(files, "/sub/f.txt").body == b"inside file"
    os.rename(site.root / "sub", site.base / "old-sub")
    (site.root / "sub").symlink_to(site.outside / "sub")  # leads to a different file
    refused = ask(files, "/sub/f.txt")
    assert refused.status == 404 and SECRET not in refused.wire


def test_same_file_reached_through_a_new_symlink_stays_the_approved_file(site: Site) -> None:
    """The directory moves out of the root and a symlink takes its place: the path now
    leads outside, to the very inode the full check approved, unchanged. It is answered
    with the bytes already approved; once that file changes, the full check refuses it."""
    files = make(site)
    assert ask(files, "/sub/f.txt").body == b"inside file"
    os.rename(site.root / "sub", site.base / "moved")
    (site.root / "sub").symlink_to(site.base / "moved")
    assert ask(files, "/sub/f.txt").body == b"inside file"
    past_its_tick(site.base / "moved" / "f.txt")
    (site.base / "moved" / "f.txt").write_bytes(b"changed outside")
    assert ask(files, "/sub/f.txt").status == 404
    uncached = make(site, cache_entries=0)
    assert ask(uncached, "/sub/f.txt").status == 404


def test_sibling_added_later_is_picked_up_and_vary_appears(site: Site) -> None:
    files = make(site)
    plain = ask(files, "/one-k.txt", Accept_Encoding="gzip")
    assert plain.header("Vary") is None and plain.header("Content-Encoding") is None
    assert ask(files, "/one-k.txt", Accept_Encoding="gzip").header("Vary") is None
    # settle_ns=0 keeps the folder's identity at once: the sibling must come a tick after
    # the folder's last change, as the server's two seconds make sure (cache.SETTLE_NS).
    past_its_tick(site.root)
    (site.root / "one-k.txt.gz").write_bytes(gzip.compress(ONE_K))
    for _ in range(2):
        gz = ask(files, "/one-k.txt", Accept_Encoding="gzip")
        assert gz.header("Content-Encoding") == "gzip" and gz.header("Vary") == "Accept-Encoding"
        assert gzip.decompress(gz.body) == ONE_K
        identity = ask(files, "/one-k.txt")
        assert identity.header("Vary") == "Accept-Encoding" and identity.body == ONE_K
    os.unlink(site.root / "one-k.txt.gz")
    for _ in range(2):
        gone = ask(files, "/one-k.txt", Accept_Encoding="gzip")
        assert gone.header("Content-Encoding") is None and gone.header("Vary") is None
        assert gone.body == ONE_K


def test_sibling_changed_later_is_served_fresh(site: Site) -> None:
    files = make(site)
    first = ask(files, "/style.css", Accept_Encoding="br")
    assert first.body == (site.root / "style.css.br").read_bytes()
    replace_atomically(site.root / "style.css.br", b"BR2:" + CSS[:50])
    again = ask(files, "/style.css", Accept_Encoding="br")
    assert again.body == b"BR2:" + CSS[:50] and again.header("ETag") != first.header("ETag")


def test_sibling_that_cannot_be_served_keeps_the_file_out_of_the_cache(site: Site) -> None:
    files = make(site)
    (site.root / "one-k.txt.gz").symlink_to(site.outside / "secret.txt")
    for _ in range(2):
        answer = ask(files, "/one-k.txt", Accept_Encoding="gzip")
        assert answer.body == ONE_K and SECRET not in answer.wire
        assert answer.header("Vary") == "Accept-Encoding"  # as before the cache: it is a file
    assert len(files._entries) == 0


def test_file_grown_past_the_content_limit(site: Site) -> None:
    files = make(site)
    assert ask(files, "/one-k.txt").body == ONE_K
    assert files._entries.weight == len(ONE_K)
    grown = ONE_K * 100  # 100 KiB: above what is kept in memory
    with open(site.root / "one-k.txt", "ab") as out:
        out.write(grown[len(ONE_K) :])
    for _ in range(2):
        answer = ask(files, "/one-k.txt")
        assert answer.body == grown and answer.header("Content-Length") == str(len(grown))
    assert files._entries.weight == 0 and len(files._entries) == 1


def test_large_file_swapped_after_the_stat_is_caught_at_open(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the stat cannot see: the file is replaced between the stat and the open.
    The reopened descriptor's identity is compared too, and the full path answers."""
    files = make(site)
    first = ask(files, "/big.bin")
    monkeypatch.setattr(cache, "unchanged", lambda entry: True)  # the stat saw the old file
    replacement = os.urandom(200_000)
    replace_atomically(site.root / "big.bin", replacement)
    answer = ask(files, "/big.bin")
    assert answer.body == replacement
    assert answer.header("ETag") != first.header("ETag")
    os.unlink(site.root / "big.bin")
    (site.root / "big.bin").symlink_to(site.outside / "secret.txt")
    refused = ask(files, "/big.bin")
    assert refused.status == 404 and SECRET not in refused.wire


def test_non_read_methods_always_take_the_full_path(site: Site) -> None:
    files = make(site)
    ask(files, "/one-k.txt")
    answer = ask(files, "/one-k.txt", "PUT")
    assert answer.status == 405 and answer.header("Allow") == "GET, HEAD"


def test_answers_stay_consistent_while_files_are_replaced(site: Site) -> None:
    """Threads share one StaticFiles while the file is replaced again and again: every
    answer is one whole version, with that version's ETag."""
    files = make(site)
    versions = [bytes([65 + n]) * 2048 for n in range(4)]
    path = site.root / "v.txt"
    path.write_bytes(versions[0])
    seen: dict[str, set[bytes]] = {}
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                answer = ask(files, "/v.txt")
                assert answer.status == 200, answer.wire[:200]
                assert answer.body in versions
                seen.setdefault(answer.header("ETag") or "", set()).add(answer.body)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for number in range(200):
            replace_atomically(path, versions[number % 4])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors[0]
    assert all(len(bodies) == 1 for bodies in seen.values()), seen.keys()


def _entry_of(files: StaticFiles, path: Path) -> cache.Entry:
    entry = files._entries.get(os.fsencode(path))
    assert entry is not None, f"no entry kept for {path}"
    return entry


def test_an_entry_keeps_its_folder_when_every_sibling_is_absent(site: Site) -> None:
    """The folder's shortcut (cache.py): one stat of the folder instead of a probe for each
    absent sibling, kept only where it can answer for them."""
    files = make(site)
    assert ask(files, "/one-k.txt").body == ONE_K
    entry = _entry_of(files, site.root / "one-k.txt")
    assert entry.parent == os.fsencode(site.root)
    assert entry.parent_identity == cache.identity(os.stat(site.root))
    assert [known for _, known in entry.siblings] == [None, None]
    # Both siblings there: nothing to spare, no folder kept.
    ask(files, "/style.css")
    assert _entry_of(files, site.root / "style.css").parent_identity is None
    # One of two: the folder answers for the other.
    ask(files, "/only-gz.js")
    assert _entry_of(files, site.root / "only-gz.js").parent_identity is not None


def test_a_dangling_symlink_sibling_keeps_the_folder_out(site: Site) -> None:
    """`access` takes a dangling symlink for no sibling, but its target may appear in
    another folder, which this folder's identity would not show: such an entry probes."""
    os.symlink(site.outside / "later.gz", site.root / "one-k.txt.gz")
    files = make(site)
    assert ask(files, "/one-k.txt", Accept_Encoding="gzip").header("Content-Encoding") is None
    assert _entry_of(files, site.root / "one-k.txt").parent_identity is None
    (site.outside / "later.gz").write_bytes(gzip.compress(ONE_K))  # the folder is untouched
    refused = ask(files, "/one-k.txt", Accept_Encoding="gzip")  # a link out of the root
    assert refused.header("Content-Encoding") is None and refused.body == ONE_K
    assert refused.header("Vary") == "Accept-Encoding"  # seen: the sibling now exists


def test_an_unsettled_folder_is_not_kept(site: Site) -> None:
    """A folder changed within the settling time may change again in the same tick
    unseen: the entry is kept (its file is settled) without the folder's shortcut."""
    path = site.root / "one-k.txt"
    past_its_tick(site.root)
    (site.root / "newcomer.txt").write_bytes(b"the folder changes now")
    folder_age = time.time_ns() - os.stat(site.root).st_ctime_ns
    file_age = time.time_ns() - os.stat(path).st_ctime_ns
    assert file_age > folder_age
    files = make(site, settle_ns=(file_age + folder_age) // 2)
    assert ask(files, "/one-k.txt").body == ONE_K
    assert _entry_of(files, path).parent_identity is None
