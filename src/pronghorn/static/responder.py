"""The static-file responder: one request under a `--static` mount, answered in full.

Owns the order of decisions for a request the mounts claim: path checks and open
(`paths`), directory redirect and index file, method (GET/HEAD, else 405), content coding
(`codings`), validators and preconditions (`conditions`), ranges (`ranges`), then the
head through `plan_response` and the body through the sink's `sendfile`. Runs on the
application thread, like an app; it returns None when the request belongs to the app.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from pronghorn.config.model import StaticMount
from pronghorn.http.events import RequestHead
from pronghorn.http.response import ResponsePlan, error_response, http_date, plan_response
from pronghorn.static import codings, conditions, paths, ranges
from pronghorn.static.content_types import content_type
from pronghorn.wsgi.channel import ClientDisconnected, ResponseSink
from pronghorn.wsgi.runner import Outcome

DEFAULT_CACHE_CONTROL = "public, max-age=0, must-revalidate"
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
INDEX_NAME = b"index.html"
_FINGERPRINT = re.compile(r"[.-](?=[0-9a-f]*[0-9])[0-9a-f]{8,64}\.[A-Za-z0-9]+$")
_INLINE_LIMIT = 65536
_WANTED = frozenset(
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
_NOT_MODIFIED_FIELDS = frozenset(("ETag", "Last-Modified", "Cache-Control", "Vary"))
_REASONS = {200: "OK", 206: "Partial Content", 301: "Moved Permanently", 304: "Not Modified"}


@dataclass(frozen=True, slots=True)
class StaticOptions:
    """How the mounts behave; every field has the default the docs describe."""

    fallthrough: bool = False
    cache_control: str = DEFAULT_CACHE_CONTROL
    immutable_fingerprinted: bool = False
    allow_dotfiles: bool = False
    follow_outside_symlinks: bool = False


@dataclass(slots=True)
class _Selected:
    """The open representation we answer with (a file or one of its siblings)."""

    fd: int
    size: int
    validators: conditions.Validators
    coding: str


class StaticFiles:
    """Answers requests under the mounts; `serve` returns None for requests of the app."""

    def __init__(
        self,
        mounts: Sequence[StaticMount],
        options: StaticOptions,
        *,
        has_app: bool,
        error_log: logging.Logger,
    ) -> None:
        self._mounts = paths.make_mounts([(m.prefix, m.directory) for m in mounts])
        self._options = options
        self._has_app = has_app
        self._error_log = error_log

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
        located = paths.locate(self._mounts, head.path, self._options.allow_dotfiles)
        if located is None:
            return None if self._has_app else _answer_error(head, sink, date, 404)
        if isinstance(located, paths.Refused):
            return _answer_error(head, sink, date, located.status)
        opts = self._options
        path = located.fs_path()
        try:
            fd = paths.open_inside(path, located.mount.root, opts.follow_outside_symlinks)
        except paths.NotFound:
            return self._missing(head, sink, date)
        try:
            info = os.fstat(fd)
            if paths.is_directory(info.st_mode):
                os.close(fd)
                fd = -1
                if not located.trailing_slash:
                    return _redirect(head, sink, date, located.url_path() + "/")
                path = os.path.join(path, INDEX_NAME)
                fd = paths.open_inside(path, located.mount.root, opts.follow_outside_symlinks)
                info = os.fstat(fd)
            if not paths.is_regular(info.st_mode) or (
                located.trailing_slash and path.rsplit(b"/", 1)[-1] != INDEX_NAME
            ):
                return self._missing(head, sink, date)
            if head.method not in ("GET", "HEAD"):
                return _answer_error(head, sink, date, 405, [("Allow", "GET, HEAD")])
            return self._respond(head, sink, date, located.mount.root, path, fd, info)
        except paths.NotFound:
            return self._missing(head, sink, date)
        finally:
            if fd >= 0:
                os.close(fd)

    def _missing(self, head: RequestHead, sink: ResponseSink, date: str) -> Outcome | None:
        if self._options.fallthrough and self._has_app:
            return None
        return _answer_error(head, sink, date, 404)

    def _respond(
        self,
        head: RequestHead,
        sink: ResponseSink,
        date: str,
        root: bytes,
        path: bytes,
        fd: int,
        info: os.stat_result,
    ) -> Outcome:
        fields = _request_fields(head)
        name = os.fsdecode(path.rsplit(b"/", 1)[-1])
        selected, sibling_fd, has_siblings = self._select(root, path, fd, info, fields)
        try:
            headers = [
                ("Content-Type", content_type(name)),
                ("Last-Modified", http_date(selected.validators.mtime)),
                ("ETag", selected.validators.etag),
                ("Cache-Control", self._cache_control(name)),
            ]
            if selected.coding:
                headers.append(("Content-Encoding", selected.coding))
            if has_siblings:
                headers.append(("Vary", "Accept-Encoding"))
            return _conditional_response(head, sink, date, fields, selected, headers)
        finally:
            if sibling_fd >= 0:
                os.close(sibling_fd)

    def _select(
        self, root: bytes, path: bytes, fd: int, info: os.stat_result, fields: dict[bytes, str]
    ) -> tuple[_Selected, int, bool]:
        """The representation to send, the sibling descriptor to close (or -1), any siblings?"""
        follow = self._options.follow_outside_symlinks
        for sibling in codings.preferred_codings(fields.get(b"accept-encoding")):
            try:
                sibling_fd = paths.open_inside(path + sibling.suffix.encode(), root, follow)
            except paths.NotFound:
                continue
            sibling_info = os.fstat(sibling_fd)
            if paths.is_regular(sibling_info.st_mode):
                return _selection(sibling_fd, sibling_info, sibling.coding), sibling_fd, True
            os.close(sibling_fd)
        has_siblings = any(os.path.isfile(path + suffix.encode()) for _, suffix in codings.SIBLINGS)
        return _selection(fd, info, ""), -1, has_siblings

    def _cache_control(self, name: str) -> str:
        if self._options.immutable_fingerprinted and _FINGERPRINT.search(name):
            return IMMUTABLE_CACHE_CONTROL
        return self._options.cache_control


def _selection(fd: int, info: os.stat_result, coding: str) -> _Selected:
    etag = conditions.make_etag(info.st_ino, info.st_size, info.st_mtime_ns, coding)
    return _Selected(fd, info.st_size, conditions.Validators(etag, int(info.st_mtime)), coding)


def _request_fields(head: RequestHead) -> dict[bytes, str]:
    fields: dict[bytes, str] = {}
    for name, value in head.headers:
        key = name.lower()
        if key in _WANTED:
            text = value.decode("latin-1")
            fields[key] = fields[key] + ", " + text if key in fields else text
    return fields


def _conditional_response(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    fields: dict[bytes, str],
    selected: _Selected,
    headers: list[tuple[str, str]],
) -> Outcome:
    verdict = conditions.evaluate(
        head.method,
        selected.validators,
        if_match=fields.get(b"if-match"),
        if_unmodified_since=fields.get(b"if-unmodified-since"),
        if_none_match=fields.get(b"if-none-match"),
        if_modified_since=fields.get(b"if-modified-since"),
    )
    if verdict == 412:
        return _answer_error(head, sink, date, 412)
    if verdict == 304:
        kept = [(k, v) for k, v in headers if k in _NOT_MODIFIED_FIELDS]
        return _send_head_only(head, sink, date, 304, kept)
    size = selected.size
    headers.append(("Accept-Ranges", "bytes"))
    wanted = fields.get(b"range")
    if (
        wanted is not None
        and head.method == "GET"
        and conditions.if_range_allows(fields.get(b"if-range"), selected.validators)
    ):
        chosen = ranges.parse_range(wanted, size)
        if isinstance(chosen, ranges.Unsatisfiable):
            return _answer_error(head, sink, date, 416, [("Content-Range", f"bytes */{size}")])
        if chosen is not None and len(chosen) == 1:
            part = chosen[0]
            headers.append(("Content-Range", f"bytes {part.first}-{part.last}/{size}"))
            return _send_file(head, sink, date, 206, headers, selected.fd, part.first, part.length)
        if chosen is not None:
            return _send_multipart(head, sink, date, headers, selected, chosen)
    return _send_file(head, sink, date, 200, headers, selected.fd, 0, size)


def _status_line(code: int) -> str:
    return f"{code} {_REASONS[code]}"


def _send_head_only(
    head: RequestHead, sink: ResponseSink, date: str, code: int, headers: list[tuple[str, str]]
) -> Outcome:
    plan = _plan(head, date, code, headers, None)
    sink.finish(plan.head, plan.keep_alive)
    return Outcome(code, 0, plan.keep_alive, headers)


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


def _send_file(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    code: int,
    headers: list[tuple[str, str]],
    fd: int,
    offset: int,
    length: int,
) -> Outcome:
    headers.append(("Content-Length", str(length)))
    plan = _plan(head, date, code, headers, None)
    if not plan.sends_body or length == 0:
        sink.finish(plan.head, plan.keep_alive)
        return Outcome(code, 0, plan.keep_alive, headers)
    try:
        if length <= _INLINE_LIMIT:
            # Small bodies: one bounded read and one hand-off beat sendfile's extra round trip.
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise ClientDisconnected("file shrank while it was being sent")
            sink.finish(plan.head + data, plan.keep_alive)
            return Outcome(code, length, plan.keep_alive, headers)
        sink.write(plan.head)
        with open(fd, "rb", buffering=0, closefd=False) as file:
            sink.sendfile(file, offset, length)
    except OSError:
        sink.abort()
        return Outcome(code, 0, False, headers)
    sink.finish(b"", plan.keep_alive)
    return Outcome(code, length, plan.keep_alive, headers)


def _send_multipart(
    head: RequestHead,
    sink: ResponseSink,
    date: str,
    headers: list[tuple[str, str]],
    selected: _Selected,
    chosen: list[ranges.ByteRange],
) -> Outcome:
    boundary = secrets.token_hex(12)
    part_type = headers[0][1]
    size = selected.size
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
        sink.write(plan.head)
        with open(selected.fd, "rb", buffering=0, closefd=False) as file:
            for opener, part in zip(openers, chosen, strict=True):
                sink.write(opener)
                sink.sendfile(file, part.first, part.length)
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
    whole = error_response(code, date, keep_alive=head.keep_alive)
    head_bytes, _, body = whole.partition(b"\r\n\r\n")
    if extra:
        head_bytes += b"".join(f"\r\n{k}: {v}".encode("latin-1") for k, v in extra)
    if head.version != "1.1" and head.keep_alive:
        head_bytes += b"\r\nConnection: keep-alive"
    data = head_bytes + b"\r\n\r\n" + (b"" if head.method == "HEAD" else body)
    sink.finish(data, head.keep_alive)
    return Outcome(code, 0 if head.method == "HEAD" else len(body), head.keep_alive, extra or [])
