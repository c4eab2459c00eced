"""Differential tests: pronghorn and a real proxy in front of it agree on message boundaries.

Each `corpus/NAME.http` (visible escapes, see `corpusformat`) is a byte stream a hostile or
sloppy client sends to the proxy; `NAME.json` beside it says why the case is there, which
targets may reach the app at all ("reach"), and what each proxy was seen to do with it
("observed": the statuses its client got, which requests it forwarded and what pronghorn
answered them, whether it closed; nginx 1.22 and haproxy 2.6 as packaged by Debian 12).
"observed" is documentation, not asserted: how a proxy treats an ambiguous request is its
own business and changes between versions.

What is asserted is the property, for every case and both proxies:
- the requests the app saw are exactly the requests the proxy forwarded and got a 200 for,
  in order, with the same method, target and body: none split in two, none joined, none
  smuggled inside another's body, none whose body pronghorn framed differently;
- every request pronghorn refused (a 4xx in its log) is one the proxy sent and got that
  answer for: pronghorn never answers a request the proxy did not send;
- nothing outside "reach" reached the app;
- no 500/502/503/504 from anyone, no traceback in pronghorn's log, no upstream framing
  complaint in nginx's error log, and the proxy closed within a deadline (no hang).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from differential import CASE_DEADLINE, CaseRun, Upstream, run_bytes, wait_forwarded
from proxies import Forwarded, ProxyMissing, ProxyProcess, find_binary

from corpusformat import unescape
from rawhttp import ConnectionClosed, RawClient, request

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(CORPUS.glob("*.http"))
SERVER_FAILURES = {500, 502, 503, 504}
# What nginx logs when an upstream's framing disagrees with its own reading of a response.
NGINX_UPSTREAM_ERRORS = (
    "upstream sent more data than specified",
    "upstream prematurely closed",
    "upstream sent invalid",
    "upstream sent no valid",
    "upstream sent too big header",
)
# How pronghorn logs a request it refuses ("431 header field line too large from PEER",
# "413 request body error for POST / from PEER: ...").
REFUSAL_LINE = re.compile(r"\[INFO\] (\d{3}) .* from ", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    spec: dict[str, Any]


def load_case(path: Path) -> Case:
    spec = json.loads(path.with_suffix(".json").read_text())
    return Case(path.stem, unescape(path.read_text(encoding="ascii")), spec)


def boundary_problems(run: CaseRun, reach: list[str] | None = None) -> list[str]:
    """Every way in which `run` breaks the property; empty when it holds."""
    problems = []
    if run.hung:
        problems.append(f"{run.proxy.kind} neither answered nor closed in {CASE_DEADLINE} s")
    failed = [s for s in run.statuses() if s in SERVER_FAILURES]
    failed += [f.upstream_status for f in run.forwarded if f.upstream_status in SERVER_FAILURES]
    if failed:
        problems.append(f"server failures {failed}")
    answered = [f for f in run.forwarded if f.upstream_status == 200]
    proxy_view = [(f.method, f.target) for f in answered]
    app_view = [(r["method"], r["target"]) for r in run.app]
    if proxy_view != app_view:
        problems.append(
            f"message boundaries differ: {run.proxy.kind} forwarded and got 200 for "
            f"{proxy_view}, the app saw {app_view}"
        )
    else:
        for forwarded, record in zip(answered, run.app, strict=True):
            app_body = (record["length"], record["sha256"])
            if forwarded.body is not None and forwarded.body != app_body:
                problems.append(
                    f"body of {record['target']} differs: {run.proxy.kind} forwarded "
                    f"{forwarded.body}, the app read {app_body}"
                )
    if reach is not None:
        outside = [target for _, target in app_view if target not in reach]
        if outside:
            problems.append(f"reached the app but may not: {outside} (reach: {reach})")
    refused = Counter(int(status) for status in REFUSAL_LINE.findall(run.pronghorn_log))
    errors_forwarded = Counter(
        f.upstream_status for f in run.forwarded if (f.upstream_status or 0) >= 400
    )
    if refused != errors_forwarded:
        problems.append(
            f"pronghorn refused {dict(refused)} but {run.proxy.kind} got "
            f"{dict(errors_forwarded)} from it: an answer to a request the proxy never sent"
        )
    if "Traceback" in run.pronghorn_log:
        problems.append("traceback in pronghorn's log")
    if run.proxy.kind == "nginx":
        errors = run.proxy.error_text(run.proxy_since)
        problems += [f"nginx: {phrase!r}" for phrase in NGINX_UPSTREAM_ERRORS if phrase in errors]
    return problems


def test_the_check_sees_each_kind_of_disagreement(proxy: ProxyProcess) -> None:
    """The property check itself, on made-up views: each disagreement is reported."""
    seen = [
        {"method": "POST", "target": "/a", "length": 5, "sha256": sha256(b"hello").hexdigest()},
        {"method": "GET", "target": "/inner", "length": 0, "sha256": sha256(b"").hexdigest()},
    ]
    run = CaseRun(proxy=proxy, sent=b"", app=seen, proxy_since=proxy.mark())
    run.forwarded = [Forwarded("POST", "/a", 200, 200, (5, sha256(b"hello").hexdigest()), "")]
    run.pronghorn_log = "[2026-01-01 00:00:00 +0000] [1] [INFO] 400 bad chunk from 127.0.0.1:1\n"
    problems = boundary_problems(run, reach=["/a"])
    assert any("message boundaries differ" in p for p in problems), problems
    assert any("may not: ['/inner']" in p for p in problems), problems
    assert any("never sent" in p for p in problems), problems
    run.app = seen[:1]
    run.forwarded = [Forwarded("POST", "/a", 200, 200, (5, sha256(b"hullo").hexdigest()), "")]
    assert any("body of /a differs" in p for p in boundary_problems(run)), problems


def test_corpus_is_paired_and_explained() -> None:
    assert len(CASES) >= 40
    for path in CASES:
        case = load_case(path)
        assert case.spec["why"], path
        assert isinstance(case.spec["reach"], list), path
        assert set(case.spec["observed"]) == {"nginx", "haproxy"}, path


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(proxy: ProxyProcess, upstream: Upstream, path: Path) -> None:
    case = load_case(path)
    run = run_bytes(proxy, upstream, case.data)
    problems = boundary_problems(run, case.spec["reach"])
    assert not problems, "\n".join(problems) + "\n" + run.describe()


BROWSER_FIELDS = [
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) interop"),
    ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Accept-Language", "en-GB,en;q=0.5"),
    ("Connection", "keep-alive"),
]
LARGE_BODY = b"a" * 256 * 1024  # one repeated byte, no newline anywhere
RESPONSE_SIZE = 16 * 1024


def test_keepalive_after_large_body(proxy: ProxyProcess, upstream: Upstream) -> None:
    """GETs of 16 KiB, a POST of 256 KiB read whole by the app, more GETs: one connection.

    Through nginx the upstream keep-alive pool carries the GETs after the POST on the same
    upstream connection as the POST, which is where a server that miscounts the end of a
    body answers the next request with a 431 or sends bytes nginx does not expect.
    """
    run = CaseRun(proxy=proxy, sent=b"", proxy_since=proxy.mark())
    upstream_since = upstream.mark()
    steps = [("GET", f"/ka/{n}?pad={RESPONSE_SIZE}", b"") for n in range(3)]
    steps.append(("POST", "/ka/post", LARGE_BODY))
    steps += [("GET", f"/ka/{n}?pad={RESPONSE_SIZE}", b"") for n in range(3, 6)]
    with RawClient.connect("127.0.0.1", proxy.port, timeout=CASE_DEADLINE) as client:
        for method, target, body in steps:
            message = request(method, target, BROWSER_FIELDS, body, host="interop.test")
            run.sent += message if not body else message[: -len(body)] + b"<body>"
            try:
                client.send(message)
                run.responses.append(client.response(method))
            except (ConnectionClosed, OSError) as gone:
                run.unparsed = str(gone).encode()
                break
    run.app, run.pronghorn_log = upstream.fence(upstream_since)
    run.forwarded = wait_forwarded(proxy, run.proxy_since, len(run.responses))
    problems = boundary_problems(run)
    if run.statuses() != [200] * len(steps):
        problems.append(f"statuses {run.statuses()}, want {len(steps)} x 200 ({run.unparsed!r})")
    get_sizes = {
        len(response.body)
        for response, (method, _, _) in zip(run.responses, steps, strict=False)
        if method == "GET" and response.status == 200
    }
    if get_sizes - {RESPONSE_SIZE}:
        problems.append(f"16 KiB responses came back with the sizes {sorted(get_sizes)}")
    posts = [record for record in run.app if record["method"] == "POST"]
    want = {"length": len(LARGE_BODY), "sha256": sha256(LARGE_BODY).hexdigest()}
    if [{k: p[k] for k in want} for p in posts] != [want]:
        problems.append(f"the app did not read the 256 KiB body whole once: {posts}")
    assert not problems, "\n".join(problems) + "\n" + run.describe()


def test_expect_continue_waits_for_the_interim_answer(
    proxy: ProxyProcess, upstream: Upstream
) -> None:
    """A client that waits for 100 Continue before its body, then reuses the connection."""
    run = CaseRun(proxy=proxy, sent=b"", proxy_since=proxy.mark())
    upstream_since = upstream.mark()
    head = request("POST", "/expect", [("Expect", "100-continue"), ("Content-Length", "5")])
    with RawClient.connect("127.0.0.1", proxy.port, timeout=CASE_DEADLINE) as client:
        client.send(head)
        run.sent += head
        interim = client.head()
        client.send(b"hello")
        run.responses.append(client.response())
        client.send(request("GET", "/after-expect"))
        run.responses.append(client.response())
    run.app, run.pronghorn_log = upstream.fence(upstream_since)
    run.forwarded = wait_forwarded(proxy, run.proxy_since, len(run.responses))
    problems = boundary_problems(run)
    if interim.status != 100 or run.statuses() != [200, 200]:
        problems.append(f"got {interim.status} then {run.statuses()}, want 100, 200, 200")
    assert not problems, "\n".join(problems) + "\n" + run.describe()


def test_a_missing_proxy_is_named() -> None:
    with pytest.raises(ProxyMissing, match="make test"):
        find_binary("no-such-proxy-for-pronghorn")
