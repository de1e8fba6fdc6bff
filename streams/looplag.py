"""How long the worker's event loop keeps a ready callback waiting (its lag).

Heartbeats, timers, the probe loop and the HTTP API all run on one asyncio
loop: anything that holds it (a long computation, blocking I/O) delays every
one of them. :class:`LoopLag` wakes every ``interval`` seconds and records
how late it woke; the worker exports the samples as a histogram
(``availability_event_loop_lag_seconds``) and shows the recent p99 and
maximum in ``/health``. :class:`Samples` is its histogram, also kept of the
statement stage's delay (``availability_statement_delay_seconds``).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Callable

#: histogram bucket upper bounds, seconds (Prometheus ``le``)
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: bucket upper bounds of the statement delay, seconds
DELAY_BUCKETS: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0)


class Recent:
    """Values of the last ``window`` seconds (by the times they were added at)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._held: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        """Hold ``value``, taken at monotonic ``now``; forget what fell out of the window."""
        held = self._held
        held.append((now, value))
        while held and held[0][0] < now - self.window:
            held.popleft()

    def values(self) -> list[float]:
        return [v for _, v in self._held]


class Samples:
    """Durations in seconds: counts per histogram bucket and the values of a recent window."""

    def __init__(self, bounds: tuple[float, ...] = BUCKETS, window: float = 60.0) -> None:
        #: bucket upper bounds, seconds (Prometheus ``le``), ascending
        self.bounds = bounds
        self.window = window
        #: counts per bucket of :attr:`bounds` and ``+Inf`` (not cumulative across buckets)
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0
        self.max_ever = 0.0
        self._recent = Recent(window)

    def record(self, value: float, now: float) -> None:
        """Count one sample of ``value`` seconds taken at monotonic ``now``."""
        value = max(0.0, value)
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value
        self.max_ever = max(self.max_ever, value)
        self._recent.add(now, value)

    def buckets(self) -> tuple[tuple[float, int], ...]:
        """``(le, cumulative count)`` pairs, ending with ``+Inf`` (none before the first sample)."""
        if not self.count:
            return ()
        out = []
        running = 0
        for le, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((le, running))
        return tuple(out)

    def recent(self) -> dict[str, float | int]:
        """p50, p99 and maximum over the last ``window`` seconds, and how many samples."""
        values = sorted(self._recent.values())
        if not values:
            return {"samples": 0, "p50_seconds": 0.0, "p99_seconds": 0.0, "max_seconds": 0.0}
        return {
            "samples": len(values),
            "p50_seconds": round(values[(len(values) - 1) // 2], 4),
            "p99_seconds": round(values[min(len(values) - 1, (len(values) * 99) // 100)], 4),
            "max_seconds": round(values[-1], 4),
        }

    def health(self) -> dict[str, float | int]:
        """:meth:`recent`, and the maximum since start (what ``/health`` shows)."""
        return {**self.recent(), "max_since_start_seconds": round(self.max_ever, 4)}


class LoopLag(Samples):
    """Samples of the event loop's lag; cumulative buckets and a recent window.

    ``clock`` is a monotonic clock (seconds). Not thread-safe: call from the
    loop it measures.
    """

    def __init__(
        self,
        interval: float = 0.05,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(BUCKETS, window)
        self.interval = interval
        self.clock = clock

    async def run(self) -> None:
        """Sample for ever (a task of the worker)."""
        while True:
            start = self.clock()
            await asyncio.sleep(self.interval)
            now = self.clock()
            self.record(now - start - self.interval, now)


class GcPauses:
    """How long the cyclic garbage collector ran, per collection, over a recent window.

    A collection holds the interpreter lock from start to end, on whichever
    thread triggered it, so the event loop waits as long: a full collection
    of a large heap is a loop lag of its own. Installed in ``gc.callbacks``.
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self.collections = [0, 0, 0]
        self.max_ever = 0.0
        self._started = 0.0
        self._recent = Recent(window)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = self.clock()
        if phase == "start":
            self._started = now
            return
        took = now - self._started
        generation = info.get("generation", 0)
        self.collections[generation] += 1
        self.max_ever = max(self.max_ever, took)
        self._recent.add(now, took)

    def recent(self) -> dict[str, float | int]:
        """The longest collection over the last ``window`` seconds, and the counts by generation."""
        return {
            "max_seconds": round(max(self._recent.values(), default=0.0), 4),
            "max_since_start_seconds": round(self.max_ever, 4),
            "full_collections": self.collections[2],
            "collections": sum(self.collections),
        }
