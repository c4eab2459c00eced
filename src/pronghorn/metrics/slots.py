"""Per-worker series: each worker's own numbers, labelled by the slot it holds.

Owns `WorkerSlots`, the master's numbering of live workers (a worker takes a slot when it
is forked and gives it back when it is reaped; a replacement takes the slot freed last, so
a worker that crashes or reaches --max-requests is replaced in its own slot), and
`add_slot_families`, which writes the `pronghorn_slot_*` families from each slot's worker's
block (`pronghorn.metrics.block`).

Why a slot and not the pid or the worker's number (`age`) as the label: those change with
every restart, so each restart would start new series and a long-lived server would leave
Prometheus an ever-growing set. Slots are reused: there are never more than the most
workers alive at once (--workers, twice that during a reload while old and new overlap,
more only when TTIN asks), whatever the number of restarts. The pid is the value of
`pronghorn_slot_pid`, not a label, for the same reason. A slot's counters are those of
every worker that held it, as the whole-server ones are of every worker: what a worker
counted stays with its slot when it exits, so they never go back (a scrape of the slot's
histogram mixes old and new workers' requests; the rates between two scrapes are the new
worker's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pronghorn.metrics.catalogue import BLOCK_SLOTS, DURATION_BUCKETS, GAUGE_SLOTS, WORKER_FAMILIES
from pronghorn.metrics.exposition import Exposition

_BY_NAME = {family.name: family for family in WORKER_FAMILIES}
_REQUESTS = _BY_NAME["pronghorn_requests_total"]
_DURATION = _BY_NAME["pronghorn_request_duration_seconds"]
_IN_FLIGHT = _BY_NAME["pronghorn_requests_in_flight"].start
_OPEN = _BY_NAME["pronghorn_connections_open"].start
_BUCKETS = len(DURATION_BUCKETS) + 1  # with +Inf
_COUNTERS = [at for at in range(BLOCK_SLOTS) if at not in GAUGE_SLOTS]


@dataclass(frozen=True, slots=True)
class SlotSample:
    """One occupied slot at a scrape: its worker's pid, the numbers of the slot (catalogue
    order: its counters with those of the workers that held it before; None when nothing
    was published yet), and how many workers held it before."""

    slot: int
    pid: int
    values: Sequence[float] | None
    restarts: int


class WorkerSlots:
    """Which slot each live worker holds, how often each slot was refilled, and what the
    workers that left each slot had counted."""

    __slots__ = ("_by_pid", "_freed", "_restarts", "_retired")

    def __init__(self) -> None:
        self._by_pid: dict[int, int] = {}
        self._freed: list[int] = []  # a stack: the slot freed last is taken first
        self._restarts: dict[int, int] = {}
        self._retired: dict[int, list[float]] = {}

    def take(self, pid: int) -> int:
        """A worker was forked: the slot it holds from now on."""
        if self._freed:
            slot = self._freed.pop()
            self._restarts[slot] += 1
        else:
            slot = len(self._restarts) + 1
            self._restarts[slot] = 0
        self._by_pid[pid] = slot
        return slot

    def give_back(self, pid: int, last: Sequence[float] | None = None) -> None:
        """A worker was reaped, having published `last`: its counters stay with its slot,
        which waits for the next worker."""
        slot = self._by_pid.pop(pid, None)
        if slot is None:
            return
        self._freed.append(slot)
        if last is not None:
            retired = self._retired.setdefault(slot, [0.0] * BLOCK_SLOTS)
            for at in _COUNTERS:
                retired[at] += last[at]

    def occupied(self) -> list[tuple[int, int, int]]:
        """(slot, pid, restarts) of every live worker, by slot."""
        return sorted((slot, pid, self._restarts[slot]) for pid, slot in self._by_pid.items())

    def sample(self, slot: int, pid: int, restarts: int, now: Sequence[float] | None) -> SlotSample:
        """The slot's numbers: what its worker published (`now`) added to what the workers
        before it in the slot counted."""
        retired = self._retired.get(slot)
        if retired is None:
            return SlotSample(slot, pid, now, restarts)
        if now is None:
            return SlotSample(slot, pid, retired, restarts)
        return SlotSample(slot, pid, [a + b for a, b in zip(retired, now, strict=True)], restarts)


def add_slot_families(out: Exposition, slots: Sequence[SlotSample]) -> None:
    """Write the `pronghorn_slot_*` families, one series (or histogram) per slot."""
    ordered = sorted(slots, key=lambda sample: sample.slot)
    out.family("pronghorn_slot_pid", "gauge", "The pid of the worker holding each slot.")
    for sample in ordered:
        out.sample("pronghorn_slot_pid", _slot(sample), sample.pid)
    out.family(
        "pronghorn_slot_restarts_total", "counter",
        "Workers that took each slot after another left it (crash, timeout, max_requests, "
        "reload: see pronghorn_worker_restarts_total for the causes).",
    )  # fmt: skip
    for sample in ordered:
        out.sample("pronghorn_slot_restarts_total", _slot(sample), sample.restarts)
    out.family(
        "pronghorn_slot_requests_total", "counter",
        "Requests answered by the workers that held each slot.",
    )  # fmt: skip
    for sample in ordered:
        values = sample.values
        count = sum(values[_REQUESTS.start : _REQUESTS.start + _REQUESTS.size]) if values else 0
        out.sample("pronghorn_slot_requests_total", _slot(sample), count)
    for name, at, text in (
        ("pronghorn_slot_requests_in_flight", _IN_FLIGHT, "Requests a thread is running now"),
        ("pronghorn_slot_connections_open", _OPEN, "Client connections open now"),
    ):
        out.family(name, "gauge", f"{text}, in the worker of each slot.")
        for sample in ordered:
            out.sample(name, _slot(sample), sample.values[at] if sample.values else 0)
    name = "pronghorn_slot_request_duration_seconds"
    out.family(
        name, "histogram", "Time in the server (as pronghorn_request_duration_seconds) of "
        "the requests of the worker in each slot.",
    )  # fmt: skip
    for sample in ordered:
        _histogram(out, name, sample)


def _slot(sample: SlotSample) -> list[tuple[str, str]]:
    return [("slot", str(sample.slot))]


def _histogram(out: Exposition, name: str, sample: SlotSample) -> None:
    values = sample.values
    start = _DURATION.start
    counts = values[start : start + _BUCKETS] if values else [0.0] * _BUCKETS
    running = 0.0
    for bound, count in zip((*DURATION_BUCKETS, None), counts, strict=True):
        running += count
        edge = "+Inf" if bound is None else repr(bound)
        out.sample(name + "_bucket", [("slot", str(sample.slot)), ("le", edge)], running)
    out.sample(name + "_sum", _slot(sample), values[start + _BUCKETS] if values else 0.0)
    out.sample(name + "_count", _slot(sample), running)
