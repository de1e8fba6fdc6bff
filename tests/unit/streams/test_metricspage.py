"""``/metrics`` of a book of business is rendered off the event loop, and renders the same."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from devkit.book_of_business import month_with_book
from fold.replay import iter_lines, replay_lines
from sinks.metrics import AvailabilityCollector, PipelineStats, StateSnapshot
from sla.months import month_bounds
from sla.timeutil import minute_start
from streams.looplag import LoopLag
from streams.metricspage import MetricsPage


def test_a_long_scrape_leaves_the_event_loop_free() -> None:
    """3,000 contracts: four scrapes take most of a second, the loop is never held for long."""
    scenario, lines = month_with_book(services=10, contracts=3000)
    first, _ = month_bounds(scenario.month)
    now = minute_start(first) + timedelta(days=20)
    result = replay_lines(iter_lines(lines), now)
    snapshot = StateSnapshot(result.outputs, PipelineStats(events_by_type={"probe": 1}))
    page = MetricsPage(lambda: now)
    lag = LoopLag(interval=0.01)

    async def main() -> tuple[list[bytes], float]:
        watch = asyncio.create_task(lag.run())
        await asyncio.sleep(0.1)
        t0 = time.perf_counter()
        # four scrapes at once take turns: the monotonic counters have one reader
        # (four, not two: a scrape of this book got fast enough that two took under
        # the half second that makes the test worth it, now and then)
        bodies = await asyncio.gather(*(page.render(snapshot) for _ in range(4)))
        took = time.perf_counter() - t0
        await asyncio.sleep(0.05)
        watch.cancel()
        return list(bodies), took

    # what a recomputation made is frozen out of the garbage collector's sight, as the
    # worker does after each (StatementPublishing._refresh): a full collection of the
    # book's objects would hold every thread, the loop's too
    gc.freeze()
    try:
        bodies, took = asyncio.run(main())
    finally:
        gc.unfreeze()
    assert took >= 0.5, "the book is too small to hold the loop noticeably"
    assert lag.max_ever < 0.2, f"the loop was held {lag.max_ever:.3f} s during {took:.2f} s"
    assert lag.count >= 20  # the monitor ran throughout
    # the same text as the collector gives on the caller's thread
    registry = CollectorRegistry()
    registry.register(AvailabilityCollector(snapshot, lambda: now))
    assert bodies[0] == bodies[1] == bodies[2] == bodies[3] == generate_latest(registry)
    assert b'availability_contract_uptime_ratio{contract_id="PO-B' in bodies[0]
