"""Reading the Prometheus text format (version 0.0.4) back: what `pronghorn top` scrapes.

Owns `parse_text`, strict on purpose: a line it does not understand is a `TextFormatError`
naming the line, never a guess, so that a client pointed at something that is not a metrics
listener (a web page, an error text) says so instead of showing made-up numbers. It reads
what `pronghorn.metrics.exposition` writes and what any other exporter writes in the same
format: `# HELP` and `# TYPE` lines (other comments are skipped), samples with escaped
label values, the special values `+Inf`, `-Inf` and `NaN`, and an optional timestamp (read
and dropped). It refuses: a malformed name, label or value; a label named twice in a sample;
the same series twice; a TYPE given twice or after its family's samples; an unknown type.

Why not `prometheus_client`'s parser: it is not a runtime dependency of pronghorn, and a
small command should not need one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
"""A sample's labels as (name, value) pairs, sorted by name."""
Series = tuple[str, Labels]

TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SPECIAL = {"+Inf": math.inf, "-Inf": -math.inf, "Inf": math.inf, "NaN": math.nan}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TIMESTAMP = re.compile(r"-?\d+")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


class TextFormatError(ValueError):
    """The text is not the Prometheus text format; says which line and why."""

    def __init__(self, number: int, line: str, why: str) -> None:
        shown = line if len(line) <= 80 else line[:77] + "..."
        super().__init__(f"line {number}: {why}: {shown!r}")
        self.number = number


@dataclass(frozen=True, slots=True)
class Scrape:
    """One scrape: every sample by (name, labels), and the declared type of each family."""

    samples: Mapping[Series, float]
    types: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str, **labels: str) -> float | None:
        """The value of the one series `name` with exactly `labels`, or None."""
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def series(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Every sample named `name`: (its labels, its value), in the order of the text."""
        return [(dict(labels), value) for (n, labels), value in self.samples.items() if n == name]


def parse_text(text: str) -> Scrape:
    """Every sample and type of `text`; raise TextFormatError at the first wrong line."""
    samples: dict[Series, float] = {}
    types: dict[str, str] = {}
    seen_families: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            _comment(number, line, types, seen_families)
            continue
        name, labels, value = _sample(number, line)
        series = (name, labels)
        if series in samples:
            raise TextFormatError(number, line, "the same series twice")
        samples[series] = value
        seen_families.add(name)
        seen_families.update(name.removesuffix(suffix) for suffix in _SUFFIXES)
    return Scrape(samples, types)


def _comment(number: int, line: str, types: dict[str, str], seen: set[str]) -> None:
    words = line[1:].lstrip(" ").split(" ", 2)
    if words[0] not in ("HELP", "TYPE"):
        return  # any other comment means nothing
    if len(words) < 2 or not _NAME.fullmatch(words[1]):
        raise TextFormatError(number, line, f"a {words[0]} line without a metric name")
    if words[0] == "HELP":
        return
    name = words[1]
    kind = words[2].strip() if len(words) == 3 else ""
    if kind not in TYPES:
        raise TextFormatError(number, line, "an unknown metric type")
    if name in types:
        raise TextFormatError(number, line, "a second TYPE line for the same family")
    if name in seen:
        raise TextFormatError(number, line, "a TYPE line after the family's samples")
    types[name] = kind


def _sample(number: int, line: str) -> tuple[str, Labels, float]:
    match = _NAME.match(line)
    if match is None:
        raise TextFormatError(number, line, "not a sample: no metric name")
    name = match.group()
    position = match.end()
    labels: Labels = ()
    if line.startswith("{", position):
        labels, position = _labels(number, line, position + 1)
    rest = line[position:]
    if not rest.startswith(" "):
        raise TextFormatError(number, line, "no space before the value")
    words = rest.split()
    if not 1 <= len(words) <= 2:
        raise TextFormatError(number, line, "expected a value and at most a timestamp")
    if len(words) == 2 and not _TIMESTAMP.fullmatch(words[1]):
        raise TextFormatError(number, line, "a timestamp that is not an integer")
    return name, labels, _value(number, line, words[0])


def _labels(number: int, line: str, position: int) -> tuple[Labels, int]:
    """The labels from just after `{`; the position just after `}`."""
    pairs: dict[str, str] = {}
    while True:
        if line.startswith("}", position):
            return tuple(sorted(pairs.items())), position + 1
        match = _LABEL_NAME.match(line, position)
        if match is None or not line.startswith('="', match.end()):
            raise TextFormatError(number, line, f"a malformed label at column {position + 1}")
        label = match.group()
        if label in pairs:
            raise TextFormatError(number, line, f"the label {label} twice")
        pairs[label], position = _quoted(number, line, match.end() + 2)
        if line.startswith(",", position):
            position += 1
        elif not line.startswith("}", position):
            raise TextFormatError(number, line, f"expected , or }} at column {position + 1}")


def _quoted(number: int, line: str, position: int) -> tuple[str, int]:
    """A label value from just after its opening quote; the position after its closing one."""
    out: list[str] = []
    while position < len(line):
        char = line[position]
        if char == '"':
            return "".join(out), position + 1
        if char == "\\":
            escaped = _ESCAPES.get(line[position + 1 : position + 2])
            if escaped is None:
                raise TextFormatError(number, line, f"a bad escape at column {position + 1}")
            out.append(escaped)
            position += 2
            continue
        out.append(char)
        position += 1
    raise TextFormatError(number, line, "a label value without its closing quote")


def _value(number: int, line: str, word: str) -> float:
    special = _SPECIAL.get(word)
    if special is not None:
        return special
    if not _NUMBER.fullmatch(word):
        raise TextFormatError(number, line, f"{word!r} is not a number")
    return float(word)
