"""Response heads an application repeats, validated and serialised once.

Owns the per-worker memo behind `start_response`: most apps answer most requests with the
same status and headers (hello-world, a JSON view, a Django page all do), and checking them
(`headers.check_status`/`check_headers`) and serialising them (`http.response.plan_response`)
cost several microseconds a request, more than the server's whole parse of the request. So
a (status, headers) pair that passed the checks once is remembered, and so is the plan made
for it with one Date value, request version, keep-alive and method kind.

Correctness does not depend on a hit: a key is the exact status and header tuples (equality
of str, no hashing shortcut), so a hit means the same text that was checked before. Both
tables are bounded, in entries and in header bytes, and start over when full, so an app
whose headers vary per request (a session cookie, an ETag) costs one failed lookup, never
memory. Several threads share a memo: only single dict operations touch it, which the GIL
makes atomic, and a race can at worst compute the same plan twice.
"""

from __future__ import annotations

from pronghorn.http.events import RequestHead
from pronghorn.http.response import ResponsePlan, plan_response
from pronghorn.wsgi.headers import check_headers, check_status

HeadersKey = tuple[str, tuple[tuple[str, str], ...]]
PlanKey = tuple[HeadersKey, str, bool, str, bool, int | None]

MAX_ENTRIES = 256
# Header text (names and values) one table may hold before it starts over.
MAX_TEXT = 256 * 1024


class HeadMemo:
    """Checked (status, headers) pairs and the plans made for them, for one worker."""

    __slots__ = ("_checked", "_checked_text", "_date", "_plans", "_plans_text")

    def __init__(self) -> None:
        self._checked: set[HeadersKey] = set()
        self._checked_text = 0
        self._plans: dict[PlanKey, ResponsePlan] = {}
        self._plans_text = 0
        self._date = ""

    def check(self, status: object, headers: object) -> HeadersKey:
        """Validate what the app passed to start_response (AppResponseError if wrong);
        the key names this exact status and header list for `plan`."""
        if type(status) is str and type(headers) is list:
            key = (status, tuple(headers))
            try:
                if key in self._checked:
                    return key
            except TypeError:
                pass  # an unhashable item: the checks below say what is wrong with it
        valid_headers = check_headers(headers)
        checked = (check_status(status), tuple(valid_headers))
        self._remember_checked(checked)
        return checked

    def plan(
        self, key: HeadersKey, head: RequestHead, date: str, body_length: int | None
    ) -> ResponsePlan:
        """The plan for a checked key answering `head`: made once per distinct inputs."""
        is_head = head.method == "HEAD"
        plan_key = (key, date, is_head, head.version, head.keep_alive, body_length)
        plan = self._plans.get(plan_key)
        if plan is not None:
            return plan
        plan = plan_response(
            method=head.method,
            request_version=head.version,
            request_keep_alive=head.keep_alive,
            status=key[0],
            headers=list(key[1]),
            date=date,
            body_length=body_length,
        )
        self._remember_plan(plan_key, plan, date)
        return plan

    def sizes(self) -> tuple[int, int]:
        """How many checked pairs and plans are held (for tests and debugging)."""
        return len(self._checked), len(self._plans)

    def _remember_checked(self, key: HeadersKey) -> None:
        size = _text_size(key)
        if len(self._checked) >= MAX_ENTRIES or self._checked_text + size > MAX_TEXT:
            self._checked = set()
            self._checked_text = 0
        if size <= MAX_TEXT:
            self._checked.add(key)
            self._checked_text += size

    def _remember_plan(self, plan_key: PlanKey, plan: ResponsePlan, date: str) -> None:
        size = len(plan.head)
        # Plans made with another Date can never be hit again once the clock moved on.
        if (
            date != self._date
            or len(self._plans) >= MAX_ENTRIES
            or self._plans_text + size > MAX_TEXT
        ):
            self._plans = {}
            self._plans_text = 0
            self._date = date
        if size <= MAX_TEXT:
            self._plans[plan_key] = plan
            self._plans_text += size


def _text_size(key: HeadersKey) -> int:
    return len(key[0]) + sum(len(name) + len(value) for name, value in key[1])
