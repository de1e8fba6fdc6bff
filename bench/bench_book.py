"""Book-of-business benchmark: how statement cost grows with the number of contracts.

Usage::

    python bench/bench_book.py [--services 10] [--contracts 2,1000,10000]

(a) Replay of one simulated month (``--services`` services x 3 regions x one
probe a minute, with the simulator's outages, incidents, a reclassification
after finality, claims and tickets) with the simulator's two contracts, then
with that many more contracts over the same services under varied terms
(:func:`devkit.book_of_business.book_contracts`). Each run is a whole replay as
``availability replay --store none`` does it: decode, fold, every output
computed and serialised. Reported: seconds, and the ratio to the first run.

(b) Live, with ``--live-contracts`` contracts (10,000 by default) over the
same services on a real broker (``KAFKA_BOOTSTRAP_SERVERS``, else a local
one): ``--live-workers`` ``availability worker`` processes (one app id, so
they share the statement partitions) on the wall clock, probes for the current
minute produced at ``--live-rate`` a second (every service and region), and
from the first minute that starts ``--live-warmup`` seconds in, one service
made to fail for each whole minute (a failing minute). Reported: the time
from the first failing probe of a failing minute to the first published
statement of a contract using that service that shows the minute as
counted downtime (p50, p99, max, and per failing minute); the event loop's
lag from the worker's ``/health`` (p99 and max over the run); the workers'
own statement delay (``/health`` ``statements.delay``, the histogram
``availability_statement_delay_seconds``); the slowest
``/health`` answers, polled every 0.2 s by a process of its own, on the
workers' ``--health-port`` (the goal's), on their HTTP API, and on a static
HTTP server of the same machine (what its load allows any server); the Kafka
heartbeat sessions the workers' logs say expired or failed while probes flowed (a heartbeat
answered "rebalancing", as when a worker joins the group, is counted
apart); per worker, its statement partitions, the outputs it published and
the CPU seconds it used during the run. Every worker's ``/metrics`` is
scraped every ``--live-scrape-interval`` seconds (15, as the deployed
Prometheus does) by a process of its own: the scrapes' count, the slowest
and the largest are reported.

(c) Resident memory per 1,000 contracts: the growth of the resident set of
a fresh process folding the month with the largest book and holding its
outputs, against the same with the simulator's two contracts.

The month file is generated once into ``--workdir`` (default: a temporary
folder) and reused by every run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from book_live import live, print_live

from devkit.book_of_business import book_contracts
from devkit.simulate import Scenario, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas.codec import dumps_output
from sla.months import Month

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
        size += len(dumps_output(out)) + 1
    seconds = time.perf_counter() - t0
    if result.dead_letters:
        raise SystemExit(f"unexpected dead letter: {result.dead_letters[0].detail}")
    return seconds, len(result.outputs), size


def memory_probe(month_path: Path, services: int, contracts: int) -> int:
    """Resident bytes of this process after a replay with ``contracts`` book contracts held."""
    names = tuple(f"svc-{i:02d}" for i in range(services))
    lines = [raw for _, raw in iter_lines(month_path.open("rb"))]
    lines += [json.dumps(ev).encode() for ev in book_contracts(contracts, names, Month(2026, 3))]
    held = replay_lines(iter_lines(lines), AS_OF, source_name="bench")
    del lines
    gc.collect()
    rss = _rss_bytes()
    assert held.outputs
    return rss


def _fresh_rss(month_path: Path, services: int, contracts: int) -> int:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--memory-probe",
            str(contracts),
            "--services",
            str(services),
            "--month-file",
            str(month_path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> int:
    args = _arguments()
    if args.memory_probe is not None:
        print(memory_probe(args.month_file, args.services, args.memory_probe))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        _replays(args, workdir)
        if args.no_live:
            return 0
        # the workers' logs stay in --workdir when one is given
        res = live(args, workdir)
    print_live(args, res)
    return 0


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=10)
    p.add_argument(
        "--contracts",
        default="0,1000,10000",
        help="book contracts added to the simulator's two, comma-separated (first is the base)",
    )
    p.add_argument("--workdir", type=Path, default=None, help="where the month file is kept")
    p.add_argument("--live-contracts", type=int, default=10_000)
    p.add_argument("--live-rate", type=int, default=5_000, help="probes a second in (b)")
    p.add_argument("--live-seconds", type=float, default=240.0)
    p.add_argument(
        "--live-warmup",
        type=float,
        default=30.0,
        help="seconds of live probes before the first failing minute (which starts after them)",
    )
    p.add_argument(
        "--live-workers", type=int, default=1, help="workers sharing the statement stage in (b)"
    )
    p.add_argument(
        "--live-scrape-interval",
        type=float,
        default=15.0,
        help="seconds between scrapes of each worker's /metrics in (b), as Prometheus's "
        "scrape_interval (0: no scrapes)",
    )
    p.add_argument("--no-live", action="store_true", help="leave out part (b)")
    p.add_argument("--memory-probe", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--month-file", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args()


def _replays(args: argparse.Namespace, workdir: Path) -> None:
    """Parts (a) and (c): the month replayed beside each book size, and the memory held."""
    sizes = [int(x) for x in args.contracts.split(",")]
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
    if largest > 0:  # (c) needs a book beside the simulator's two contracts
        rss0 = _fresh_rss(path, args.services, 0)
        rss1 = _fresh_rss(path, args.services, largest)
        per = (rss1 - rss0) / largest * 1000
        print(
            f"(c) resident memory: {rss0 / 2**20:.0f} MiB with 2 contracts, "
            f"{rss1 / 2**20:.0f} MiB with {largest + 2:,} (outputs held) "
            f"= {per / 2**20:.2f} MiB per 1,000 contracts"
        )
    if len(sizes) > 1:  # a ratio needs a book beside the base
        verdict = "met" if worst <= GOAL_RATIO else "NOT met"
        print(f"(a) replay ratio {worst:.2f} (goal <= {GOAL_RATIO}): {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
