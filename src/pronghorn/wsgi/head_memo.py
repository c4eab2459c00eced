"""Response heads an application repeats, validated and serialised once.

Owns the per-worker memo behind `start_response`: most apps answer most requests with the
same status and headers (hello-world, a JSON view, a Django page all do), and checking them
(`headers.check_status`/`check_headers`) and serialising them (`http.response.plan_response`)
cost several microseconds a request, more than the server's whole parse of the request. So
a (status, headers) pair that passed the checks once is remembered, and so is the plan made
for it with one Date value, request version, keep-alive and method kind.

Correctness does not depend on a hit: a key is the exact status and header tuples (equality
of str, no hashing shortcut), so a hit means the same text that was checked before. The
table is bounded, in entries and in header bytes, and starts over when full, so an app
whose headers vary per request (a session cookie, an ETag) costs one failed lookup, never
memory. Several threads share a memo: only single dict operations touch it, which the GIL
makes atomic, and a race can at worst compute the same plan twice.
"""

from __future__ import annotations

from typing import Final

from pronghorn.http.events import RequestHead
from pronghorn.http.response import ResponsePlan, plan_response
from pronghorn.wsgi.headers import check_headers, check_status

HeadersKey = tuple[str, tuple[tuple[str, str], ...]]
PlanKey = tuple[str, bool, str, bool, int | None]

MAX_ENTRIES: Final = 256
# Header text (names and values) the table may hold before it starts over.
MAX_TEXT: Final = 256 * 1024
# Plans kept for one (status, headers): one per Date, version, keep-alive and HEAD-ness
# in use; the Date moves on every second, so older ones are dropped when this is reached.
MAX_PLANS: Final = 8


class CheckedHead:
    """A status and header list that passed the checks, and the plans made for it."""

    __slots__ = ("headers", "plans", "status")

    def __init__(self, status: str, headers: tuple[tuple[str, str], ...]) -> None:
        self.status = status
        self.headers = headers
        self.plans: dict[PlanKey, ResponsePlan] = {}


class HeadMemo:
    """Checked (status, headers) pairs and the plans made for them, for one worker."""

    __slots__ = ("_checked", "_chunked", "_text")

    def __init__(self, chunked: bool = True) -> None:
        self._checked: dict[HeadersKey, CheckedHead] = {}
        self._text = 0
        # False on uwsgi: nginx's uwsgi module decodes no chunked encoding, so a body of
        # unknown length is delimited by closing (see `pronghorn.http.uwsgi`).
        self._chunked = chunked

    def check(self, status: object, headers: object) -> CheckedHead:
        """Validate what the app passed to start_response (AppResponseError if wrong).

        One lookup of the exact status and header tuples: the only hashing of the
        headers a request pays."""
        if type(status) is str and type(headers) is list:
            try:
                found = self._checked.get((status, tuple(headers)))
            except TypeError:
                found = None  # an unhashable item: the checks below say what is wrong
            if found is not None:
                return found
        valid_headers = check_headers(headers)
        checked = CheckedHead(check_status(status), tuple(valid_headers))
        self._remember(checked)
        return checked

    def plan(
        self, checked: CheckedHead, head: RequestHead, date: str, body_length: int | None
    ) -> ResponsePlan:
        """The plan for a checked head answering `head`: made once per distinct inputs."""
        plan_key = (date, head.method == "HEAD", head.version, head.keep_alive, body_length)
        plans = checked.plans
        plan = plans.get(plan_key)
        if plan is not None:
            return plan
        plan = plan_response(
            method=head.method,
            request_version=head.version,
            request_keep_alive=head.keep_alive,
            status=checked.status,
            headers=list(checked.headers),
            date=date,
            body_length=body_length,
            chunked=self._chunked,
        )
        if len(plans) >= MAX_PLANS:
            plans.clear()
        plans[plan_key] = plan
        return plan

    def sizes(self) -> tuple[int, int]:
        """How many checked heads and plans are held (for tests and debugging)."""
        return len(self._checked), sum(len(c.plans) for c in list(self._checked.values()))

    def _remember(self, checked: CheckedHead) -> None:
        # Bounded in entries and in header text; each entry holds at most MAX_PLANS heads,
        # each about as long as its header text, so the plans are bounded with it.
        size = _text_size(checked)
        if len(self._checked) >= MAX_ENTRIES or self._text + size > MAX_TEXT:
            self._checked = {}
            self._text = 0
        if size <= MAX_TEXT:
            self._checked[(checked.status, checked.headers)] = checked
            self._text += size


def _text_size(checked: CheckedHead) -> int:
    return len(checked.status) + sum(len(name) + len(value) for name, value in checked.headers)
