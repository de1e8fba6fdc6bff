"""Replay through the worker's stages against replay through the fold engine, by book size.

Usage::

    python bench/bench_chain.py [--workdir DIR] [--services 10] [--books 0,1000,10000]

The month of ``bench_book.py`` (``--services`` services, three regions, cached
in ``--workdir``) with each book of contracts beside it, replayed two ways
as of 2026-04-11: :func:`fold.replay.replay_lines` (what ``availability
replay`` runs) and :func:`devkit.stagechain.run_stages` (the worker's probe
stage, router and six statement stages in one process, no broker). Both
give the same outputs (checked here on their count, and in full by
``tests/unit/streams/test_stage_chain.py``); the figures are what running
replay as the worker's own pipeline would cost.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path

from bench_book import AS_OF, month_file

from devkit.book_of_business import book_contracts
from devkit.stagechain import run_stages
from fold.replay import iter_lines, replay_lines
from sla.months import Month
from sla.process_shared import collector_paused


def _timed_replay(lines: list[bytes]) -> tuple[float, int]:
    gc.collect()
    t0 = time.perf_counter()
    outputs = replay_lines(iter_lines(lines), AS_OF, source_name="bench").outputs
    return time.perf_counter() - t0, len(outputs)


def _timed_stages(lines: list[bytes]) -> tuple[float, int]:
    gc.collect()
    t0 = time.perf_counter()
    with collector_paused():  # as replay does around its statements
        outputs = run_stages(lines, AS_OF).outputs
    return time.perf_counter() - t0, len(outputs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--workdir", type=Path, help="where the month file is cached")
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--books", default="0,1000,10000", help="book sizes (contracts added)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
        workdir = args.workdir or Path(tmp)
        month = [raw for _, raw in iter_lines(month_file(workdir, args.services).open("rb"))]
        names = tuple(f"svc-{i:02d}" for i in range(args.services))
        for extra in (int(b) for b in args.books.split(",")):
            book = book_contracts(extra, names, Month(2026, 3))
            lines = month + [json.dumps(ev).encode() for ev in book]
            replayed, n_replay = _timed_replay(lines)
            staged, n_staged = _timed_stages(lines)
            same = "same count" if n_replay == n_staged else "COUNTS DIFFER"
            print(
                f"{extra + 2:>7,} contracts: replay {replayed:6.2f} s, through the stages "
                f"{staged:6.2f} s ({staged / replayed:.2f}x), {n_replay:,} outputs, {same}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
