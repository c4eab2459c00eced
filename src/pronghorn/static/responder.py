"""The static-file responder: one request under a `--static` mount, answered in full.

Owns the order of decisions for a request the mounts claim: path checks and open
(`paths`), directory redirect and index file, method (GET/HEAD, else 405), content coding
(`codings`), validators and preconditions (`conditions`), ranges (`ranges`), then the
head and the body (from memory, one `pread`, or the sink's `sendfile`). Runs on the
application thread, like an app; it returns None when the request belongs to the app.

There are two ways to the same answer. The full path checks and opens the file and its
precompressed siblings and describes them in an `Entry` (`cache`), kept for later. A later
GET or HEAD of the same path answers from that entry once one `stat` shows the file is still
the one it describes: no open, no containment check, no sibling search, heads prebuilt, small
bodies from memory. `cache` explains why that keeps every guarantee of the full path.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple
from urllib.parse import quote

from pronghorn.config.model import StaticMount
from pronghorn.http.events import RequestHead
from pronghorn.http.response import (
    ResponsePlan,
    error_body,
    error_response,
    fixed_head_end,
    fixed_head_start,
    http_date,
    plan_response,
)
from pronghorn.static import cache, codings, conditions, paths, ranges
from pronghorn.static.cache import BoundedCache, Entry, Representation
from pronghorn.static.content_types import content_type
from pronghorn.wsgi.channel import ClientDisconnected, ResponseSink
from pronghorn.wsgi.runner import Outcome

DEFAULT_CACHE_CONTROL: Final = "public, max-age=0, must-revalidate"
IMMUTABLE_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
DEFAULT_CACHE_ENTRIES: Final = 1024
DEFAULT_CACHE_BYTES: Final = 8 << 20
INDEX_NAME: Final = b"index.html"
_FINGERPRINT: Final = re.compile(r"[.-](?=[0-9a-f]*[0-9])[0-9a-f]{8,64}\.[A-Za-z0-9]+$")
_INLINE_LIMIT: Final = 65536
"""Bodies up to this size are sent with their head in one piece, and are the ones kept."""
_READ_METHODS: Final = ("GET", "HEAD")
_WANTED: Final = frozenset(
    (
        b"range",
        b"if-range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"accept-encoding",
    )
)
_NOT_MODIFIED_FIELDS: Final = frozenset(("ETag", "Last-Modified", "Cache-Control", "Vary"))
_ACCEPT_RANGES: Final = ("Accept-Ranges", "bytes")
_REASONS: Final = {200: "OK", 206: "Partial Content", 301: "Moved Permanently", 304: "Not Modified"}


@dataclass(frozen=True, slots=True)
class StaticOptions:
    """How the mounts behave; every field has the default the docs describe."""

    fallthrough: bool = False
    cache_control: str = DEFAULT_CACHE_CONTROL
    immutable_fingerprinted: bool = False
    allow_dotfiles: bool = False
    follow_outside_symlinks: bool = False
    cache_entries: int = DEFAULT_CACHE_ENTRIES
    """Files (and request paths) remembered per worker; 0 turns the cache off."""
    cache_bytes: int = DEFAULT_CACHE_BYTES
    """Bytes of small files' contents kept in memory per worker; 0 keeps none."""


class _Route(NamedTuple):
    """Where a raw request path leads: `paths.locate` is pure, so this never goes stale."""

    located: paths.Located
    fs_path: bytes


class _Opened(NamedTuple):
    """A file the full check opened (the requested one, coding "", or a sibling)."""

    coding: str
    path: bytes
    fd: int
    info: os.stat_result


class _Changed(Exception):
    """A cached file is no longer what its entry describes: take the full path instead."""


class _Body:
    """Where the bytes of the representation being sent come from.

    The entry's copy in memory; the descriptor the full path opened; or, for a large file
    answered from the cache, its path, opened only once the body is needed and refused
    (`_Changed`) unless the descriptor is the very file the entry approved. `ready` is
    called before any byte of the head goes out, so the full path can still take over.
    """

    __slots__ = ("_data", "_fd", "_owned", "_rep")

    def __init__(self, rep: Representation, fd: int = -1) -> None:
        self._rep = rep
        self._data = rep.body
        self._fd = fd
        self._owned = False

    def ready(self) -> None:
        if self._data is not None or self._fd >= 0:
            return
        try:
            fd = os.open(self._rep.path, paths.OPEN_FLAGS)
        except OSError as exc:
            raise _Changed from exc
        try:
            same = cache.identity(os.fstat(fd)) == self._rep.identity
        except OSError:
            same = False
        if not same:
            os.close(fd)
            raise _Changed
        self._fd, self._owned = fd, True

    def read(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return self._data[offset : offset + length]
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise ClientDisconnected("file shrank while it was being sent")
        return data

    def send(self, sink: ResponseSink, offset: int, length: int, head: bytes = b"") -> None:
        """`head` (if any), then `length` bytes from `offset`."""
        if self._data is not None:
            sink.write(head + self._data[offset : offset + length])
            return
        with open(self._fd, "rb", buffering=0, closefd=False) as file:
            sink.sendfile(file, offset, length, head)

    def close(self) -> None:
        if self._owned:
            self._owned = False
            os.close(self._fd)


class StaticFiles:
    """Answers requests under the mounts; `serve` returns None for requests of the app.

    One instance per worker, shared by its request threads: the caches in it are read
    without a lock (see `cache.BoundedCache`). `settle_ns` is `cache.SETTLE_NS` except in
    tests, which cache files they have just written.
    """

    def __init__(
        self,
        mounts: Sequence[StaticMount],
        options: StaticOptions,
        *,
        has_app: bool,
        error_log: logging.Logger,
        settle_ns: int = cache.SETTLE_NS,
    ) -> None:
        self._mounts = paths.make_mounts([(m.prefix, m.directory) for m in mounts])
        self._options = options
        self._has_app = has_app
        self._error_log = error_log
        self._settle_ns = settle_ns
        self._routes: BoundedCache[bytes, _Route] = BoundedCache(options.cache_entries)
        self._entries: BoundedCache[bytes, Entry] = BoundedCache(
            options.cache_entries, options.cache_bytes
        )

    def serve(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        """Answer `head` if a mount claims it (or there is no app); None passes it on.

        A named error boundary, like the app call: an unexpected error (a full descriptor
        table, an I/O error) is logged with the request and answered 500.
        """
        try:
            return self._serve(head, sink, date)
        except ClientDisconnected:
            sink.abort()
            return Outcome(499, 0, False, [])
        except Exception:
            target = head.target.decode("latin-1")[:200]
            self._error_log.exception("error serving static %s %s", head.method, target)
            return _answer_error(head, sink, date, 500)

    def _serve(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        route = self._routes.get(head.path)
        if route is None:
            located = paths.locate(self._mounts, head.path, self._options.allow_dotfiles)
            if located is None:
                return None if self._has_app else _answer_error(head, sink, date, 404)
            if isinstance(located, paths.Refused):
                return _answer_error(head, sink, date, located.status)
            # Only paths under a mount are kept: refusals and the app's paths are cheap to
            # recompute, and a flood of them must not push out the paths being served.
            route = _Route(located, located.fs_path())
            self._routes.put(head.path, route)
        if head.method in _READ_METHODS:
            entry = self._entries.get(route.fs_path)
            # A directory's entry answers "/dir/" only; "/dir" is a redirect, "/file/" a 404.
            if entry is not None and entry.directory == route.located.trailing_slash:
                outcome = self._from_cache(head, sink, date, route.fs_path, entry)
                if outcome is not None:
                    return outcome
        return self._from_disk(head, sink, date, route)

    def _from_cache(
        self, head: RequestHead, sink: ResponseSink, date: str, key: bytes, entry: Entry
    ) -> Outcome | None:
        """Answer from `entry` if the disk still holds what it saw; None: take the full path."""
        if not cache.unchanged(entry):
            self._entries.drop(key, entry)
            return None
        fields = _request_fields(head)
        rep = _choose(entry, fields)
        body = _Body(rep)
        try:
            return _answer(head, sink, date, fields, rep, body)
        except _Changed:
            self._entries.drop(key, entry)
            return None
        finally:
            body.close()

    def _from_disk(
        self, head: RequestHead, sink: ResponseSink, date: str, route: _Route
    ) -> Outcome | None:
        """The full path: open under the containment check, fstat, answer, keep an entry."""
        located, path = route
        root, follow = located.mount.root, self._options.follow_outside_symlinks
        before_stat = time.time_ns()  # see cache.settled: taken before any stat of the file
        try:
            fd = paths.open_inside(path, root, follow)
        except paths.NotFound:
            return self._missing(head, sink, date)
        try:
            info = os.fstat(fd)
            directory = paths.is_directory(info.st_mode)
            if directory:
                os.close(fd)
                fd = -1
                if not located.trailing_slash:
                    return _redirect(head, sink, date, located.url_path() + "/")
                path = os.path.join(path, INDEX_NAME)
                fd = paths.open_inside(path, root, follow)
                info = os.fstat(fd)
            if not paths.is_regular(info.st_mode) or (
                located.trailing_slash and path.rsplit(b"/", 1)[-1] != INDEX_NAME
            ):
                return self._missing(head, sink, date)
            if head.method not in _READ_METHODS:
                return _answer_error(head, sink, date, 405, [("Allow", "GET, HEAD")])
            opened = [_Opened("", path, fd, info)]
            try:
                fields = _request_fields(head)
                accepted = codings.preferred_codings(fields.get(b"accept-encoding"))
                entry = self._examine(root, opened, directory, before_stat, route.fs_path, accepted)
                rep = _choose(entry, fields)
                descriptor = next(item.fd for item in opened if item.coding == rep.coding)
                return _answer(head, sink, date, fields, rep, _Body(rep, descriptor))
            finally:
                for sibling in opened[1:]:
                    os.close(sibling.fd)
        except paths.NotFound:
            return self._missing(head, sink, date)
        finally:
            if fd >= 0:
                os.close(fd)

    def _missing(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        if self._options.fallthrough and self._has_app:
            return None
        return _answer_error(head, sink, date, 404)

    def _examine(
        self,
        root: bytes,
        opened: list[_Opened],
        directory: bool,
        before_stat: int,
        key: bytes,
        accepted: list[codings.Sibling],
    ) -> Entry:
        """The entry for the open file `opened[0]`, its siblings opened into `opened` too.

        Kept for later requests when every file in it is settled and each sibling is either
        servable or absent; its small bodies are read for it within the budget. When it
        cannot be kept, only the siblings in `accepted` (those this request may get) are
        opened and checked; for the others, whether they exist is enough (Vary).
        """
        path = opened[0].path
        keep = self._entries.enabled and self._settled(opened[0], before_stat)
        wanted = None if keep else {sibling.coding for sibling in accepted}
        probes, cacheable, vary = self._open_siblings(root, path, opened, wanted)
        keep = keep and cacheable and all(self._settled(item, before_stat) for item in opened)
        bodies = self._read_bodies(opened) if keep else {}
        if bodies is None:  # a file shrank while we read it: answer, but keep nothing
            keep, bodies = False, {}
        name = os.fsdecode(path.rsplit(b"/", 1)[-1])
        type_, cache_control = content_type(name), self._cache_control(name)
        reps = {
            item.coding: _representation(
                item, type_, cache_control, vary, keep, bodies.get(item.coding)
            )
            for item in opened
        }
        entry = Entry(path, directory, cache.identity(opened[0].info), probes, reps)
        if keep:
            self._entries.put(key, entry, entry.body_bytes)
        return entry

    def _settled(self, item: _Opened, before_stat: int) -> bool:
        return cache.settled(cache.identity(item.info), before_stat, self._settle_ns)

    def _open_siblings(
        self, root: bytes, path: bytes, opened: list[_Opened], wanted: set[str] | None
    ) -> tuple[tuple[tuple[bytes, cache.Identity | None], ...], bool, bool]:
        """Open the precompressed siblings (those `wanted`, or all) under the full check,
        adding them to `opened`.

        Returns how an entry revalidates them, whether an entry may be kept (each is either
        servable or absent), and whether the file has a sibling (Vary).
        """
        follow = self._options.follow_outside_symlinks
        probes: list[tuple[bytes, cache.Identity | None]] = []
        cacheable, vary = True, False
        for coding, suffix in codings.SIBLINGS:
            sibling = path + suffix.encode()
            # The probe an entry repeats; and cheaper than a failing open (no exception).
            if not os.access(sibling, os.F_OK, effective_ids=True):
                probes.append((sibling, None))
                continue
            if wanted is not None and coding not in wanted:
                vary = vary or os.path.isfile(sibling)  # all this answer needs to know
                cacheable = False
                continue
            found = _open_regular(sibling, root, follow)
            if found is None:
                # Something we may not serve (a symlink out of the root, a directory, an
                # unreadable file): right for this answer, but no entry could tell it changed.
                cacheable = False
                vary = vary or os.path.isfile(sibling)
                probes.append((sibling, None))
                continue
            fd, info = found
            opened.append(_Opened(coding, sibling, fd, info))
            probes.append((sibling, cache.identity(info)))
            vary = True
        return tuple(probes), cacheable, vary

    def _read_bodies(self, opened: list[_Opened]) -> dict[str, bytes] | None:
        """The contents of the small files in `opened` if they fit the budget ({} if not)."""
        small = [item for item in opened if item.info.st_size <= _INLINE_LIMIT]
        if sum(item.info.st_size for item in small) > self._entries.max_weight:
            return {}
        bodies = {}
        for item in small:
            data = os.pread(item.fd, item.info.st_size, 0)
            if len(data) != item.info.st_size:
                return None
            bodies[item.coding] = data
        return bodies

    def _cache_control(self, name: str) -> str:
        if self._options.immutable_fingerprinted and _FINGERPRINT.search(name):
            return IMMUTABLE_CACHE_CONTROL
        return self._options.cache_control


def _open_regular(path: bytes, root: bytes, follow: bool) -> tuple[int, os.stat_result] | None:
    """`path` opened under the containment check with its fstat, if it is a regular file."""
    try:
        fd = paths.open_inside(path, root, follow)
    except paths.NotFound:
        return None
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if paths.is_regular(info.st_mode):
        return fd, info
    os.close(fd)
    return None


def _representation(
    item: _Opened, type_: str, cache_control: str, vary: bool, kept: bool, body: bytes | None
) -> Representation:
    """`item`'s answers prepared; their heads only if the entry is `kept` (else on demand)."""
    info = item.info
    etag = conditions.make_etag(info.st_ino, info.st_size, info.st_mtime_ns, item.coding)
    validators = conditions.Validators(etag, int(info.st_mtime))
    headers = [
        ("Content-Type", type_),
        ("Last-Modified", http_date(validators.mtime)),
        ("ETag", etag),
        ("Cache-Control", cache_control),
    ]
    if item.coding:
        headers.append(("Content-Encoding", item.coding))
    if vary:
        headers.append(("Vary", "Accept-Encoding"))
    ok = [*headers, _ACCEPT_RANGES, ("Content-Length", str(info.st_size))]
    not_modified = [field for field in headers if field[0] in _NOT_MODIFIED_FIELDS]
    return Representation(
        path=item.path,
        identity=cache.identity(info),
        coding=item.coding,
        validators=validators,
        headers=headers,
        ok_headers=ok,
        ok_head=fixed_head_start(_status_line(200), ok) if kept else None,
        not_modified_headers=not_modified,
        not_modified_head=fixed_head_start(_status_line(304), not_modified) if kept else None,
        body=body,
    )


def _choose(entry: Entry, fields: dict[bytes, str]) -> Representation:
    """The representation Accept-Encoding picks among those the entry has."""
    reps = entry.representations
    if len(reps) > 1:
        for sibling in codings.preferred_codings(fields.get(b"accept-encoding")):
            rep = reps.get(sibling.coding)
            if rep is not None:
                return rep
    return reps[""]


def _request_fields(head: RequestHead) -> dict[bytes, str]:
    fields: dict[bytes, str] = {}
    for name, value in head.headers:
        key = name.lower()
        if key in _WANTED:
            text = value.decode("latin-1")
            fields[key] = fields[key] + ", " + text if key in fields else text
    return fields


def _answer(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    fields: dict[bytes, str],
    rep: Representation,
    body: _Body,
) -> Outcome:
    """Preconditions, then ranges, then the whole representation (GET or HEAD)."""
    if fields:
        verdict = conditions.evaluate(
            head.method,
            rep.validators,
            if_match=fields.get(b"if-match"),
            if_unmodified_since=fields.get(b"if-unmodified-since"),
            if_none_match=fields.get(b"if-none-match"),
            if_modified_since=fields.get(b"if-modified-since"),
        )
        if verdict == 412:
            return _answer_error(head, sink, date, 412)
        if verdict == 304:
            start = rep.not_modified_head or fixed_head_start(
                _status_line(304), rep.not_modified_headers
            )
            return _send_fixed(head, sink, date, 304, start, rep.not_modified_headers)
        wanted = fields.get(b"range")
        if (
            wanted is not None
            and head.method == "GET"
            and conditions.if_range_allows(fields.get(b"if-range"), rep.validators)
        ):
            size = rep.size
            chosen = ranges.parse_range(wanted, size)
            if isinstance(chosen, ranges.Unsatisfiable):
                return _answer_error(head, sink, date, 416, [("Content-Range", f"bytes */{size}")])
            if chosen is not None:
                body.ready()
                return _send_ranges(head, sink, date, rep, body, chosen)
    return _send_whole(head, sink, date, rep, body)


def _status_line(code: int) -> str:
    return f"{code} {_REASONS[code]}"


def _send_fixed(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    code: int,
    start: bytes,
    headers: list[tuple[str, str]],
) -> Outcome:
    """A prebuilt head (`fixed_head_start`) and no body: a 304, a HEAD, an empty file."""
    keep_alive = head.keep_alive
    sink.finish(
        start + date.encode("latin-1") + fixed_head_end(head.version, keep_alive), keep_alive
    )
    return Outcome(code, 0, keep_alive, headers)


def _send_whole(
    head: RequestHead, sink: ResponseSink, date: str, rep: Representation, body: _Body
) -> Outcome:
    size = rep.size
    start = rep.ok_head or fixed_head_start(_status_line(200), rep.ok_headers)
    if head.method == "HEAD" or size == 0:
        return _send_fixed(head, sink, date, 200, start, rep.ok_headers)
    body.ready()
    keep_alive = head.keep_alive
    start += date.encode("latin-1") + fixed_head_end(head.version, keep_alive)
    if not _send_with_body(sink, start, keep_alive, body, 0, size):
        return Outcome(200, 0, False, rep.ok_headers)
    return Outcome(200, size, keep_alive, rep.ok_headers)


def _send_with_body(
    sink: ResponseSink, start: bytes, keep_alive: bool, body: _Body, offset: int, length: int
) -> bool:
    """The head `start`, then `length` bytes of `body`; False if the connection was aborted."""
    try:
        if length <= _INLINE_LIMIT:
            # Small bodies: one bounded read and one hand-off beat sendfile's extra round trip.
            sink.finish(start + body.read(offset, length), keep_alive)
            return True
        body.send(sink, offset, length, start)
    except OSError:
        sink.abort()
        return False
    sink.finish(b"", keep_alive)
    return True


def _plan(
    head: RequestHead,
    date: str,
    code: int,
    headers: list[tuple[str, str]],
    length: int | None,
) -> ResponsePlan:
    return plan_response(
        method=head.method,
        request_version=head.version,
        request_keep_alive=head.keep_alive,
        status=_status_line(code),
        headers=headers,
        date=date,
        body_length=length,
    )


def _send_ranges(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    rep: Representation,
    body: _Body,
    chosen: list[ranges.ByteRange],
) -> Outcome:
    size = rep.size
    headers = [*rep.headers, _ACCEPT_RANGES]
    if len(chosen) > 1:
        return _send_multipart(head, sink, date, headers, body, size, chosen)
    part = chosen[0]
    headers.append(("Content-Range", f"bytes {part.first}-{part.last}/{size}"))
    headers.append(("Content-Length", str(part.length)))
    plan = _plan(head, date, 206, headers, None)
    if not _send_with_body(sink, plan.head, plan.keep_alive, body, part.first, part.length):
        return Outcome(206, 0, False, headers)
    return Outcome(206, part.length, plan.keep_alive, headers)


def _send_multipart(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    headers: list[tuple[str, str]],
    body: _Body,
    size: int,
    chosen: list[ranges.ByteRange],
) -> Outcome:
    boundary = secrets.token_hex(12)
    part_type = headers[0][1]
    openers = [
        (
            f"\r\n--{boundary}\r\nContent-Type: {part_type}\r\n"
            f"Content-Range: bytes {part.first}-{part.last}/{size}\r\n\r\n"
        ).encode("latin-1")
        for part in chosen
    ]
    closer = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(map(len, openers)) + sum(part.length for part in chosen) + len(closer)
    headers[0] = ("Content-Type", f"multipart/byteranges; boundary={boundary}")
    headers.append(("Content-Length", str(length)))
    plan = _plan(head, date, 206, headers, None)
    try:
        before = plan.head  # goes out with the first part's opener and bytes
        for opener, part in zip(openers, chosen, strict=True):
            body.send(sink, part.first, part.length, before + opener)
            before = b""
    except OSError:
        sink.abort()
        return Outcome(206, 0, False, headers)
    sink.finish(closer, plan.keep_alive)
    return Outcome(206, length, plan.keep_alive, headers)


def _redirect(head: RequestHead, sink: ResponseSink, date: str, location: str) -> Outcome:
    if head.query:
        location += "?" + quote(head.query.decode("latin-1"), safe="/?&=+;:@,$!'()*%~-._")
    headers = [("Location", location), ("Content-Length", "0")]
    plan = _plan(head, date, 301, headers, None)
    sink.finish(plan.head, plan.keep_alive)
    return Outcome(301, 0, plan.keep_alive, headers)


def _answer_error(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    code: int,
    extra: list[tuple[str, str]] | None = None,
) -> Outcome:
    """A small text answer (404, 405, 412, 416, 400...) on a connection that stays open."""
    data = error_response(
        code,
        date,
        method=head.method,
        version=head.version,
        keep_alive=head.keep_alive,
        headers=extra or (),
    )
    sink.finish(data, head.keep_alive)
    sent = 0 if head.method == "HEAD" else len(error_body(code))
    return Outcome(code, sent, head.keep_alive, extra or [])
