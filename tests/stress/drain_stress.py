"""Stress the graceful paths: many rounds of SIGTERM, SIGHUP and SIGUSR2 under load.

Each round starts a fresh server (`-w 2 --threads 4` on the supervisor tests' app), sends
50 requests that take 0.5 s each in the app (so most wait in the listen backlog or in
socket buffers), signals the master, keeps late clients connecting meanwhile, and counts
every outcome (see `tests/supervisor/drainload.py`). It prints one line per round and a
total, and exits 1 if any request was lost (or anything else went wrong), else 0.

    python tests/stress/drain_stress.py --rounds 20            # 20 of each: term, hup, usr2
    python tests/stress/drain_stress.py --rounds 30 --kinds term --reuse-port
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
for _path in (_TESTS, _TESTS / "supervisor"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from drainrounds import KINDS, run_round  # noqa: E402
from svtools import write_app  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds of each kind (20)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="term,hup,usr2 (all)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=0.5, help="time in the app (0.5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--reuse-port", action="store_true", help="run with --reuse-port")
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    extra = ("--reuse-port",) if args.reuse_port else ()
    totals: Counter[str] = Counter()
    failed_rounds = 0
    started = time.monotonic()
    for number in range(1, args.rounds + 1):
        for kind in kinds:
            with tempfile.TemporaryDirectory(prefix="drain-stress-") as tmp:
                app_dir = Path(tmp)
                write_app(app_dir, "v1")
                began = time.monotonic()
                result = run_round(
                    kind,
                    app_dir,
                    workers=args.workers,
                    threads=args.threads,
                    clients=args.clients,
                    seconds=args.seconds,
                    extra=extra,
                )
            took = time.monotonic() - began
            totals[f"{kind} rounds"] += 1
            totals[f"{kind} lost"] += result.lost
            verdict = "ok" if result.passed else "FAIL"
            print(
                f"round {number:3d} {kind:4s} {verdict:4s} lost={result.lost:<3d} "
                f"{result.summary} ({took:.1f} s)",
                flush=True,
            )
            if not result.passed:
                failed_rounds += 1
                for problem in result.problems:
                    print(f"    problem: {problem}", flush=True)
                tail = result.log[-3000:].replace("\n", "\n    | ")
                print(f"    | {tail}", flush=True)
    lost = sum(n for name, n in totals.items() if name.endswith(" lost"))
    per_kind = ", ".join(
        f"{kind}: {totals[f'{kind} rounds']} rounds, {totals[f'{kind} lost']} lost"
        for kind in kinds
    )
    print(
        f"TOTAL {per_kind}; {failed_rounds} failed round(s), {lost} lost request(s) "
        f"in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 1 if failed_rounds else 0


if __name__ == "__main__":
    sys.exit(main())
