"""Benchmark a Prometheus scrape of the worker's metrics, by the size of the book.

Replays a simulated month of ``--services`` services with a book of
``--contracts`` contracts over them, then times what ``/metrics`` costs on
that state (:class:`sinks.metrics.ReplayState`, the same collector the
worker registers), with the clock inside the month so every statement is
the current one and gets its full set of gauges:

* the first scrape;
* a scrape of the same state again (the steady case: most statements do
  not change between two scrapes);
* a scrape after a tenth of the statements were replaced by new revisions
  (new objects with the same figures, as the worker's stages hand them over);
* a scrape after every statement was remade with a new ``computed_at`` and
  nothing else new, as the stages remake a partition's unchanged outputs at
  each recomputation (live, nearly every statement at every scrape).

Then, as the worker serves them (:class:`streams.metricspage.MetricsPage`:
on a thread, the cyclic collector paused), ``--repeats`` scrapes while an
event loop measures its own lag every 50 ms as the worker's does, the
statements remade between scrapes as live (nine in ten with a new
``computed_at`` only, one in ten with new content): the longest wait of
the loop during each scrape, with the book's objects frozen out of the
collector's sight as the worker freezes them after each recomputation.

Each figure is the median of ``--repeats`` runs, each on a new collector
for the first scrape. A scrape is the text the worker serves
(:meth:`AvailabilityCollector.exposition`); the last line is the same
state's steady scrape through the client library's registry and
``generate_latest``, for comparison.

    python bench/bench_metrics.py --contracts 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from devkit.book_of_business import month_with_book
from fold.replay import iter_lines, replay_lines
from sinks.metrics import AvailabilityCollector, PipelineStats, ReplayState, StateSnapshot
from sla.months import month_bounds
from sla.timeutil import format_instant, minute_start
from streams.looplag import LoopLag
from streams.metricspage import MetricsPage


def _median(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class _Revisable:
    """A replay's state whose statements the bench replaces with new revisions."""

    def __init__(self, replay: ReplayState) -> None:
        self.replay = replay
        self.items: list[Mapping[str, Any]] = replay.statements()

    def statements(self) -> list[Mapping[str, Any]]:
        return self.items

    def service_months(self) -> list[Mapping[str, Any]]:
        return self.replay.service_months()

    def pipeline(self) -> PipelineStats:
        return self.replay.pipeline()


def run(services: int, contracts: int, repeats: int) -> None:
    scenario, lines = month_with_book(services, contracts)
    first, _ = month_bounds(scenario.month)
    now = minute_start(first) + timedelta(days=20)
    result = replay_lines(iter_lines(lines), now)
    state = _Revisable(ReplayState(result))
    n = len(state.items)
    print(f"book: {contracts:,} contracts over {services} services: {n:,} statements")

    def scrape(collector: AvailabilityCollector) -> bytes:
        return collector.exposition()

    def fresh() -> AvailabilityCollector:
        return AvailabilityCollector(state, lambda: now)

    first_scrape = _median(lambda: scrape(fresh()), repeats)
    steady = fresh()
    size = len(scrape(steady))
    again = _median(lambda: scrape(steady), repeats)
    statements = state.items

    def revise_a_tenth() -> None:
        for i in range(0, len(statements), 10):
            statements[i] = {**statements[i], "revision": int(statements[i]["revision"]) + 1}

    times = []
    for _ in range(repeats):
        revise_a_tenth()
        t0 = time.perf_counter()
        scrape(steady)
        times.append(time.perf_counter() - t0)
    remade_times = []
    for k in range(repeats):
        at = format_instant(now + timedelta(minutes=k + 1))
        statements[:] = [{**st, "computed_at": at} for st in statements]
        t0 = time.perf_counter()
        scrape(steady)
        remade_times.append(time.perf_counter() - t0)
    print(f"exposition: {size / 1e6:.1f} MB")
    print(f"first scrape           {first_scrape:8.3f} s (median of {repeats})")
    print(f"same state again       {again:8.3f} s")
    print(f"a tenth revised        {statistics.median(times):8.3f} s")
    print(f"every statement remade {statistics.median(remade_times):8.3f} s")
    registry = CollectorRegistry()
    registry.register(fresh())
    generate_latest(registry)
    library = _median(lambda: generate_latest(registry), repeats)
    print(f"same state, library    {library:8.3f} s")
    waits = asyncio.run(_loop_waits(ReplayState(result), now, repeats))
    print("loop's longest wait per scrape: " + ", ".join(f"{w * 1000:.1f} ms" for w in waits))


async def _loop_waits(replay: ReplayState, now: datetime, scrapes: int) -> list[float]:
    """The loop's longest wait during each of ``scrapes`` scrapes through the worker's page."""
    sys.setswitchinterval(0.0001)  # as the worker sets it
    gc.freeze()
    page = MetricsPage(lambda: now)
    outputs: list[Any] = [*replay.statements(), *replay.service_months()]

    def remake(k: int) -> None:
        at = format_instant(now + timedelta(minutes=k))
        for i, out in enumerate(outputs):
            if out["kind"] == "contract_month":
                new = {"computed_at": at} if i % 10 else {"services": dict(out["services"])}
                outputs[i] = {**out, **new}

    waits = []
    for k in range(scrapes):
        if k:
            await asyncio.to_thread(remake, k)
        lag = LoopLag(interval=0.05)  # the worker's own monitor, new for each scrape
        watcher = asyncio.create_task(lag.run())
        await asyncio.sleep(0.2)
        await page.render(StateSnapshot(list(outputs), PipelineStats()))
        watcher.cancel()
        waits.append(lag.max_ever)
    gc.unfreeze()
    return waits


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--services", type=int, default=10, help="services (default 10)")
    ap.add_argument("--contracts", type=int, default=1000, help="contracts (default 1000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure (default 3)")
    args = ap.parse_args(argv)
    run(args.services, args.contracts, args.repeats)


if __name__ == "__main__":
    main()
