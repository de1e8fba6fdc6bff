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

A thread still shares the interpreter lock with the loop, and a single
call that holds it holds the loop: so the scrape runs with the cyclic
garbage collector paused, and its text is encoded a family at a time
(``bench/bench_metrics.py`` measures the loop's longest wait per scrape).
"""

from __future__ import annotations

import asyncio

from sinks.metrics import AvailabilityCollector, StateSnapshot, WallClock
from sla.process_shared import collector_paused

#: objects a scrape may leave to the collector; past this many they are frozen
_FREEZE_AFTER = 10_000


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
        # With the cyclic collector paused: a scrape makes a million short-lived
        # objects, and the full collections they set off held the interpreter
        # lock (so the loop) for 40 to 130 ms each at 10,000 contracts. What it
        # keeps (the typed statements it read) is frozen after, as the
        # recomputation's outputs are: the first collection after the pause
        # scanned them all, 88 ms after a first scrape.
        with collector_paused(freeze_after=_FREEZE_AFTER):
            return self._collector.exposition()
