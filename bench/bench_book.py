"""Book-of-business benchmark: how statement cost grows with the number of contracts.

Usage::

    python bench/bench_book.py [--services 10] [--contracts 2,1000,10000]

(a) Replay of one simulated month (``--services`` services x 3 regions x one
probe a minute, with the simulator's outages, incidents, a reclassification
after finality, claims and tickets) with the simulator's two contracts, then
with that many more contracts over the same services under varied terms
(:func:`streams.simulate.book_contracts`). Each run is a whole replay as
``availability replay --store none`` does it: decode, fold, every output
computed and serialised. Reported: seconds, and the ratio to the first run.

(c) Resident memory per 1,000 contracts: the growth of the process's
resident set while the largest book's statements are held, divided by its
contracts.

The month file is generated once into ``--workdir`` (default: a temporary
folder) and reused by every run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sla.months import Month
from streams.replay import dumps, iter_lines, replay_lines
from streams.simulate import Scenario, book_contracts, write_jsonl

GOAL_RATIO = 1.5
AS_OF = datetime(2026, 4, 11, tzinfo=UTC)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def month_file(workdir: Path, services: int) -> Path:
    """The simulated month, written on first use."""
    path = workdir / f"month-{services}.jsonl"
    if not path.exists():
        names = tuple(f"svc-{i:02d}" for i in range(services))
        tmp = path.with_suffix(".tmp")
        write_jsonl(Scenario(services=names, malformed_rate=0.0), str(tmp))
        tmp.rename(path)
    return path


def replay_once(month_lines: list[bytes], extra: int, services: int) -> tuple[float, int, int]:
    """One whole replay with ``extra`` book contracts; (seconds, outputs, bytes out)."""
    names = tuple(f"svc-{i:02d}" for i in range(services))
    contracts = [json.dumps(ev).encode() for ev in book_contracts(extra, names, Month(2026, 3))]
    lines = month_lines + contracts
    gc.collect()
    t0 = time.perf_counter()
    result = replay_lines(iter_lines(lines), AS_OF, source_name="bench")
    size = 0
    for out in result.outputs:
        size += len(dumps(out)) + 1
    seconds = time.perf_counter() - t0
    if result.dead_letters:
        raise SystemExit(f"unexpected dead letter: {result.dead_letters[0].detail}")
    return seconds, len(result.outputs), size


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--services", type=int, default=10)
    p.add_argument(
        "--contracts",
        default="0,1000,10000",
        help="book contracts added to the simulator's two, comma-separated (first is the base)",
    )
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args()
    sizes = [int(x) for x in args.contracts.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        path = month_file(workdir, args.services)
        month_lines = [raw for _, raw in iter_lines(path.open("rb"))]
        print(f"month: {len(month_lines):,} events, {args.services} services x 3 regions")
        base = None
        worst = 0.0
        for extra in sizes:
            seconds, outputs, size = replay_once(month_lines, extra, args.services)
            base = base or seconds
            ratio = seconds / base
            worst = max(worst, ratio)
            print(
                f"(a) replay with {extra + 2:>6,} contracts: {seconds:7.2f} s, "
                f"{outputs:,} outputs ({size / 1e6:.1f} MB), ratio {ratio:.2f}"
            )
        largest = max(sizes)
        names = tuple(f"svc-{i:02d}" for i in range(args.services))
        book = book_contracts(largest, names, Month(2026, 3))
        contracts = [json.dumps(ev).encode() for ev in book]
        gc.collect()
        before = _rss_bytes()
        held = replay_lines(iter_lines(month_lines + contracts), AS_OF, source_name="bench")
        gc.collect()
        grown = _rss_bytes() - before
        per = grown / max(1, largest) * 1000
        print(
            f"(c) resident memory: {grown / 2**20:.1f} MiB for the book with {largest:,} contracts "
            f"and its {len(held.outputs):,} outputs = {per / 2**20:.2f} MiB per 1,000 contracts "
            f"(peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)"
        )
    ok = worst <= GOAL_RATIO
    verdict = "met" if ok else "NOT met"
    print(f"RESULT: replay ratio {worst:.2f} (goal <= {GOAL_RATIO}): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
