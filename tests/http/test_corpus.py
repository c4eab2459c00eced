"""The raw-request corpus: every case, fed whole, byte by byte and at seeded random splits.

Each `corpus/{valid,invalid,smuggling}/NAME.http` holds the raw bytes (see `corpusformat`);
`NAME.json` beside it holds what must come out: the requests reported (before the error,
if any) and the error status, with the RFC section that decides it under "why". Cases
named `fuzz_*` were found by `make fuzz` (tests/server/fuzzserver.py).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from eventlog import Outcome, feed_pieces, splits

from corpusformat import unescape
from pronghorn.http.parser import ParserLimits

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(CORPUS.glob("*/*.http"))


def _expected_request(spec: dict[str, Any]) -> dict[str, Any]:
    out = {
        "method": spec["method"],
        "target": unescape(spec["target"]),
        "version": spec["version"],
        "headers": [(unescape(n), unescape(v)) for n, v in spec["headers"]],
        "body": unescape(spec["body"]),
        "keep_alive": spec["keep_alive"],
    }
    for key in ("path", "query"):
        if key in spec:
            out[key] = unescape(spec[key])
    if "expect_continue" in spec:
        out["expect_continue"] = spec["expect_continue"]
    return out


def _actual(outcome: Outcome, like: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for request, expected in zip(
        outcome.requests, like + [{}] * len(outcome.requests), strict=False
    ):
        head = request.head
        item: dict[str, Any] = {
            "method": head.method,
            "target": head.target,
            "version": head.version,
            "headers": list(head.headers),
            "body": bytes(request.body),
            "keep_alive": head.keep_alive,
        }
        for key in ("path", "query", "expect_continue"):
            if key in expected:
                item[key] = getattr(head, key)
        result.append(item)
    return result


def test_corpus_is_large_and_paired() -> None:
    assert len(CASES) >= 80
    for http in CASES:
        assert http.with_suffix(".json").exists(), http
    assert {p.parent.name for p in CASES} == {"valid", "invalid", "smuggling"}


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_case(path: Path) -> None:
    data = unescape(path.read_text(encoding="ascii"))
    spec = json.loads(path.with_suffix(".json").read_text())
    assert spec["why"]
    limits = ParserLimits(**spec.get("limits", {}))
    expected = [_expected_request(r) for r in spec["requests"]]
    for label, pieces in splits(data, seed=zlib.crc32(path.stem.encode())):
        outcome = feed_pieces(data, pieces, limits)
        assert _actual(outcome, expected) == expected, f"{label}: {pieces}"
        status = outcome.error.status if outcome.error else None
        assert status == spec["error"], f"{label}: {outcome.error} ({pieces})"
        if spec["error"] is None:
            for request, want in zip(outcome.requests, spec["requests"], strict=True):
                # "trailers": null is a message the stream leaves open (a fuzzed case cut
                # off in its body): it must not have ended.
                trailers = None
                if want["trailers"] is not None:
                    trailers = [(unescape(n), unescape(v)) for n, v in want["trailers"]]
                assert request.trailers == trailers, f"{label}: incomplete or wrong trailers"
        assert path.parent.name != "valid" or spec["error"] is None
