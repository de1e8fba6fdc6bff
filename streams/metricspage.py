"""``/metrics``: the worker's metrics, rendered on a thread, never on the event loop.

A scrape of a book of business is long: 10,000 contracts are 11,767
statements, some 270,000 series and 25.5 MB of exposition, nearly a second
of Python even written without the client library's sample objects
(:meth:`~sinks.metrics.AvailabilityCollector.exposition`;
``bench/bench_metrics.py``). On the event loop
that would hold the Kafka clients' heartbeats and fetches, the timers and
the reports to ``/health`` for as long. So :class:`MetricsPage` takes a
:class:`~sinks.metrics.StateSnapshot` of the worker on the loop (a list of
references to the latest outputs, which are never changed once made, and
the counters: milliseconds) and renders it on a worker thread; the loop
only waits for the result. One scrape renders at a time: the collector's
counters that stay monotonic across scrapes are kept by one reader.
"""

from __future__ import annotations

import asyncio

from sinks.metrics import AvailabilityCollector, StateSnapshot, WallClock
from sla.process_shared import collector_paused


class MetricsPage:
    """The collector ``/metrics`` serves, and its rendering off the event loop."""

    def __init__(self, clock: WallClock) -> None:
        self._collector = AvailabilityCollector(StateSnapshot(), clock)
        self._one_at_a_time = asyncio.Lock()

    async def render(self, snapshot: StateSnapshot) -> bytes:
        """The exposition text of ``snapshot``, made on a thread."""
        async with self._one_at_a_time:
            self._collector.state = snapshot
            return await asyncio.to_thread(self._scrape)

    def _scrape(self) -> bytes:
        # with the cyclic collector paused: a scrape makes a million short-lived
        # objects, and the full collections they set off held the interpreter
        # lock (so the loop) for 40 to 70 ms each at 10,000 contracts
        with collector_paused():
            return self._collector.exposition()
