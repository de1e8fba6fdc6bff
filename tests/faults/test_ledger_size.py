"""A busy service-region-day against the broker's real message size limit.

The probe ledger keeps six bytes a probe and is checkpointed to a compacted
changelog. 200,000 probes of one service and region inside one hour of one
UTC day hold 1.2 MB: more than one record may carry at the broker's default
``message.max.bytes`` (1 MiB). The probe loop must checkpoint them without
a single failure, every changelog value must stay under that limit, and a
second loop of the same app id must restore every probe from the changelog
and fold nothing again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import numpy as np
import pytest

from sla.months import Month, month_bounds
from sla.probes import ProbeLedger, ProbePolicy
from sla.timeutil import epoch_minute, parse_instant
from streams.probeloop import ProbeLoop
from tests.helpers import compact_line, probe
from tools.produce import produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

#: probes of the busy service-region, in one hour of March 5
BUSY = 200_000
#: the broker's default ``message.max.bytes``
LIMIT = 1048588
APP = "busy-day"


def _lines() -> list[bytes]:
    busy = [
        compact_line(
            probe(
                "api",
                "eu",
                f"2026-03-05T10:{i % 60:02d}:{(i // 60) % 60:02d}Z",
                i % 7 != 0,
                f"b{i}",
            )
        )
        for i in range(BUSY)
    ]
    # a quiet region and a quiet day of the same service-month
    quiet = [
        compact_line(
            probe("api", region, f"2026-03-{day:02d}T09:{m:02d}:00Z", True, f"q{region}{day}{m}")
        )
        for region in ("us", "eu")
        for day in (4, 6)
        for m in range(60)
    ]
    return busy + quiet


def _march() -> ProbeLedger:
    first, end = month_bounds(Month.of(2026, 3))
    return ProbeLedger(first, end - first)


def _expected(lines: list[bytes]) -> ProbeLedger:
    led = _march()
    for raw in lines:
        ev = json.loads(raw)
        led.add(
            ev["region"], epoch_minute(parse_instant(ev["observed_at"])), ev["event_id"], ev["ok"]
        )
    return led


async def _until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def test_a_service_region_day_past_the_message_size_limit_checkpoints_and_restores(
    broker: str,
) -> None:
    lines = _lines()
    produce_lines(lines, broker)

    async def fold_then_restore() -> tuple[ProbeLoop, ProbeLoop]:
        first = ProbeLoop(broker, APP, checkpoint_interval=1.0)
        task = asyncio.create_task(first.run_forever(max_delay=2.0))
        folded = lambda: first.stage.stats.events.get("probe", 0) >= len(lines)  # noqa: E731
        await _until("every probe folded", folded, 120)
        done = first.checkpoints
        await _until("two checkpoints after the fold", lambda: first.checkpoints >= done + 2, 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        second = ProbeLoop(broker, APP, checkpoint_interval=1.0)
        again = asyncio.create_task(second.run_forever(max_delay=2.0))
        await _until("the restore", lambda: second.restored_keys > 0, 60)
        await _until("a checkpoint after it", lambda: second.checkpoints >= 2, 60)
        again.cancel()
        with pytest.raises(asyncio.CancelledError):
            await again
        return first, second

    first, second = asyncio.run(fold_then_restore())
    assert first.failures == 0, first.last_error
    assert second.failures == 0, second.last_error
    # the second loop found every offset committed: nothing to fold again
    assert second.stage.stats.events.get("probe", 0) == 0
    values = {k: second.store[k] for k in second.store.with_prefix("api|2026-03|")}
    assert max(len(v) for v in values.values()) < LIMIT // 2
    assert len(values) > 2  # the busy day is stored in more than one value
    restored = _march()
    failures = restored.load_many(list(values.values()))
    assert failures == []
    expected = _expected(lines)
    assert restored.probe_count() == expected.probe_count() == len(lines)
    policy = ProbePolicy()
    assert np.array_equal(restored.minute_states(policy), expected.minute_states(policy))
    assert restored.to_bytes() == expected.to_bytes()
