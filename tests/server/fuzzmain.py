"""`make fuzz`: run the server fuzzer (fuzzserver.py) for FUZZ_SECONDS, then report.

    python tests/server/fuzzmain.py [--seconds N] [--engine auto|atheris|random] [--seed N]
                                    [--max-body BYTES] [--corpus DIR | --no-corpus]

With atheris installed (`make fuzz` tries to pip-install it) the streams are chosen by
libFuzzer, guided by the coverage of `pronghorn`'s Python code in this process (the parser
checks run here on every stream); its own corpus of interesting inputs is kept in
`.fuzz/libfuzzer/` between runs. Without atheris, seeded random bytes drive the same
generator. Either way every stream also goes to a real server.

Each kind of violation found is printed with its smallest stream and written as a case in
`tests/http/corpus/` (review it before committing: a case whose bug is not fixed yet fails
`test_corpus`). Every minute, and at the end, the run checks that the worker is the same
and holds no more sockets than before. The exit status is 1 if anything was found.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHECKPOINT_EVERY = 60.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 300)))
    parser.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "-1")))
    parser.add_argument("--max-body", type=int, default=65536)
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "http" / "corpus")
    parser.add_argument("--no-corpus", action="store_true", help="write no corpus files")
    return parser.parse_args()


def _load_fuzzserver(engine: str) -> ModuleType:
    if engine == "atheris":
        import atheris  # type: ignore[import-not-found]

        # Coverage of pronghorn's own modules (the parser above all) guides libFuzzer.
        with atheris.instrument_imports(include=["pronghorn"]):
            import fuzzserver
        return fuzzserver
    import fuzzserver

    return fuzzserver


def main() -> int:
    args = _arguments()
    sys.path.insert(0, str(HERE))
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "random"
    seed = args.seed if args.seed >= 0 else random.randrange(2**31)
    print(f"fuzz: engine {engine}, seed {seed}, {args.seconds:.0f} s, bodies <= {args.max_body}")
    fuzzserver = _load_fuzzserver(engine)
    server = fuzzserver.start_server()
    try:
        run = fuzzserver.FuzzRun(server, max_body=args.max_body, concurrency=12)
        deadline = time.monotonic() + args.seconds
        if engine == "atheris":
            _fuzz_with_atheris(run, deadline, seed, lambda: _finish(run, server, args, fuzzserver))
        while time.monotonic() < deadline:
            run.run_random(seed, seconds=min(CHECKPOINT_EVERY, deadline - time.monotonic()))
            seed += 1
            _progress(run)
    except BaseException:
        server.stop()
        raise
    return _finish(run, server, args, fuzzserver)


def _fuzz_with_atheris(run: Any, deadline: float, seed: int, finish: Callable[[], int]) -> None:
    """Never returns: libFuzzer owns the loop, so the callback ends the process itself."""
    import atheris

    next_checkpoint = time.monotonic() + CHECKPOINT_EVERY

    def one(data: bytes) -> None:
        nonlocal next_checkpoint
        now = time.monotonic()
        if now >= deadline:
            sys.stdout.flush()
            os._exit(finish())
        if now >= next_checkpoint:
            run.checkpoint()
            _progress(run)
            next_checkpoint = time.monotonic() + CHECKPOINT_EVERY
        run.one_input(data)

    work = ROOT / ".fuzz"
    corpus = work / "libfuzzer"
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        # libFuzzer starts from tiny inputs, from which hypothesis can draw no stream;
        # random seeds of useful sizes get it going.
        rng = random.Random(seed)
        for index in range(64):
            (corpus / f"seed-{index}").write_bytes(rng.randbytes(rng.choice([256, 1024, 4096])))
    seconds = int(deadline - time.monotonic()) + 120  # a backstop; `one` ends the run
    atheris.Setup(
        [
            sys.argv[0],
            f"-seed={seed}",
            f"-max_total_time={seconds}",
            "-max_len=8192",
            "-len_control=0",
            "-rss_limit_mb=4096",
            "-print_final_stats=1",
            f"-artifact_prefix={work}/",
            str(corpus),
        ],
        one,
    )
    atheris.Fuzz()


def _progress(run: Any) -> None:
    report = run.report
    print(
        f"fuzz: {report.streams} streams, {len(report.findings)} findings, "
        f"statuses {dict(sorted(report.statuses.items()))}",
        flush=True,
    )


def _finish(run: Any, server: Any, args: argparse.Namespace, fuzzserver: ModuleType) -> int:
    report = run.finish()
    server.stop()
    print(report.describe())
    if report.findings and not args.no_corpus:
        for path in fuzzserver.write_corpus(report, args.corpus):
            print(f"fuzz: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print("fuzz: " + ("OK" if report.ok else "FOUND PROBLEMS"), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
