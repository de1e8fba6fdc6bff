"""Benchmark the typed month outputs: reading statements as figures, and rendering them.

Replays a simulated month of ``--services`` services with a book of
``--contracts`` contracts over them, then times, per output, what
:mod:`sla.results` does: reading a contract-month statement from its dict
and from its JSON text, rendering it back, and the rows the ClickHouse sink
makes of every output (which read through it). The statements of a larger
book are the same size, so the cost per statement should not grow with
the book; run two sizes to see it.

    python bench/bench_results.py --contracts 1000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from devkit.book_of_business import month_with_book
from devkit.simulate import default_as_of
from fold.replay import iter_lines, replay_lines
from schemas.codec import dumps_output
from sinks import rows as rw
from sla.results import read_contract_month, read_service_month, render


def _per_item(fn: Callable[[Any], object], items: Sequence[Any], repeats: int) -> float:
    """Microseconds per item, the median of ``repeats`` runs over all of them."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / max(1, len(items)) * 1e6


def run(services: int, contracts: int, repeats: int) -> None:
    scenario, lines = month_with_book(services, contracts)
    t0 = time.perf_counter()
    outputs = replay_lines(iter_lines(lines), default_as_of(scenario)).outputs
    replayed = time.perf_counter() - t0
    statements = [o for o in outputs if o["kind"] == "contract_month"]
    records = [o for o in outputs if o["kind"] == "service_month"]
    texts = [dumps_output(o).encode() for o in statements]
    typed = [read_contract_month(o) for o in statements]
    print(f"book: {contracts:,} contracts over {services} services, replayed in {replayed:.2f} s")
    print(f"outputs: {len(outputs):,} ({len(statements):,} statements, {len(records):,} records)")
    figures: list[tuple[str, Callable[[Any], object], Sequence[Any]]] = [
        ("read a statement from its dict", read_contract_month, statements),
        ("read a statement from its text", read_contract_month, texts),
        ("render a statement", render, typed),
        ("read a service-month record", read_service_month, records),
        ("the sink's rows of an output", rw.rows_for_output, outputs),
    ]
    for label, fn, items in figures:
        print(f"{label:<34}{_per_item(fn, items, repeats):>9.1f} µs (median of {repeats})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--services", type=int, default=10, help="services (default 10)")
    ap.add_argument("--contracts", type=int, default=1000, help="contracts (default 1000)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per figure (default 5)")
    args = ap.parse_args(argv)
    run(args.services, args.contracts, args.repeats)


if __name__ == "__main__":
    main()
