"""The Prometheus text format (version 0.0.4), written from numbers the master added up.

Owns `Exposition`, which collects families (HELP and TYPE lines, then their samples, with
label values escaped) and renders them as the bytes of one scrape, and
`add_worker_families`, which writes the families of `catalogue.WORKER_FAMILIES` from a
vector of totals: histograms get their cumulative buckets, `+Inf`, `_sum` and `_count`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pronghorn.metrics.catalogue import DURATION_BUCKETS, WORKER_FAMILIES, Family

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Iterable[tuple[str, str]]


class Exposition:
    """One scrape being written."""

    __slots__ = ("_lines",)

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        """Start a family: its HELP and TYPE lines; its samples follow."""
        escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self._lines.append(f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n")

    def sample(self, name: str, labels: Labels, value: float) -> None:
        pairs = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
        where = f"{{{pairs}}}" if pairs else ""
        self._lines.append(f"{name}{where} {_number(value)}\n")

    def render(self) -> bytes:
        return "".join(self._lines).encode("utf-8")


def add_worker_families(out: Exposition, totals: Sequence[float]) -> None:
    """Write every family of a worker's block from `totals` (catalogue order)."""
    for family in WORKER_FAMILIES:
        out.family(family.name, family.kind, family.help)
        if family.kind == "histogram":
            _histogram(out, family, totals)
            continue
        for offset, labels in enumerate(family.combinations):
            out.sample(family.name, labels, totals[family.start + offset])


def _histogram(out: Exposition, family: Family, totals: Sequence[float]) -> None:
    base = family.name
    counts = totals[family.start : family.start + len(DURATION_BUCKETS) + 1]
    running = 0.0
    for bound, count in zip((*DURATION_BUCKETS, None), counts, strict=True):
        running += count
        out.sample(base + "_bucket", [("le", "+Inf" if bound is None else repr(bound))], running)
    out.sample(base + "_sum", (), totals[family.start + len(DURATION_BUCKETS) + 1])
    out.sample(base + "_count", (), running)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))
