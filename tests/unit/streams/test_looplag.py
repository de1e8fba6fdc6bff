"""The event-loop lag monitor measures a loop that is really held."""

from __future__ import annotations

import asyncio
import gc
import time

from streams.looplag import BUCKETS, GcPauses, LoopLag


def test_a_held_loop_shows_as_lag() -> None:
    lag = LoopLag(interval=0.01)

    async def main() -> None:
        task = asyncio.create_task(lag.run())
        await asyncio.sleep(0.2)
        time.sleep(0.3)  # hold the loop, as a computation on it would
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(main())
    recent = lag.recent()
    assert lag.max_ever >= 0.25
    assert recent["max_seconds"] >= 0.25
    assert recent["p50_seconds"] < 0.05  # the other samples were on time
    buckets = lag.buckets()
    assert buckets[-1] == (float("inf"), lag.count)
    # cumulative, and the held sample lies above the 0.25 s bound
    counts = [n for _, n in buckets]
    assert counts == sorted(counts)
    assert dict(buckets)[0.25] < lag.count
    assert len(buckets) == len(BUCKETS) + 1


def test_samples_leave_the_recent_window() -> None:
    now = [0.0]
    lag = LoopLag(window=10.0, clock=lambda: now[0])
    lag.record(2.0, 0.0)
    lag.record(0.001, 5.0)
    assert lag.recent()["max_seconds"] == 2.0
    lag.record(0.002, 11.0)
    assert lag.recent()["max_seconds"] == 0.002
    assert lag.max_ever == 2.0
    assert lag.count == 3


def test_gc_pauses_time_real_collections() -> None:
    pauses = GcPauses(window=60.0)
    gc.callbacks.append(pauses)
    try:
        # a heap of reference cycles for a full collection to find
        junk: list[list[object]] = []
        for _ in range(50_000):
            a: list[object] = []
            a.append(a)
            junk.append(a)
        del junk, a
        gc.collect()
    finally:
        gc.callbacks.remove(pauses)
    recent = pauses.recent()
    assert recent["full_collections"] >= 1
    assert recent["collections"] >= recent["full_collections"]
    assert 0 < recent["max_seconds"] <= recent["max_since_start_seconds"]
    # a collection long past the window no longer counts as recent
    pauses.clock = lambda: 1e12
    pauses("start", {"generation": 0})
    pauses("stop", {"generation": 0})
    assert pauses.recent()["max_seconds"] == 0.0


def test_gc_pauses_leave_the_recent_window() -> None:
    now = [0.0]
    pauses = GcPauses(window=10.0, clock=lambda: now[0])
    for at, took in ((0.0, 0.5), (5.0, 0.01), (11.0, 0.02)):
        now[0] = at
        pauses("start", {"generation": 2})
        now[0] = at + took
        pauses("stop", {"generation": 2})
    recent = pauses.recent()
    # the 0.5 s collection ended at 0.5, more than 10 s before the last one
    assert recent["max_seconds"] == 0.02
    assert recent["max_since_start_seconds"] == 0.5
    assert recent["full_collections"] == 3
