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
from streams import topics
from streams.probeloop import ProbeLoop, ledger_topic, service_partition
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


#: a changelog topic whose record batches may hold 100,000 bytes: a day of
#: 10,000 probes (60 kB) passes alone, and a batch of many days is refused
SMALL_TOPIC = "100000"
#: days of March, each with one old probe and 10,000 new ones
DAYS = range(1, 21)


def _changelog(broker: str, topic: str) -> dict[bytes, bytes | None]:
    """The last value of every key of ``topic`` (None: a tombstone)."""
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        ends = reader.end_offsets(tps)
        last: dict[bytes, bytes | None] = {}
        deadline = time.monotonic() + 30
        while any(reader.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "changelog not read to its end"
            for records in reader.poll(timeout_ms=500).values():
                for rec in records:
                    last[rec.key] = rec.value
        return last
    finally:
        reader.close()


def _set_topic_limit(broker: str, topic: str, limit: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        res = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": limit})
        admin.alter_configs([res])
    finally:
        admin.close()


def _stored_whole(broker: str, spec: topics.TopicSpec) -> bytes:
    """An earlier worker's value: api's eu region stored whole, one probe on each of DAYS."""
    from kafka import KafkaProducer

    old = _march()
    first, _ = month_bounds(Month.of(2026, 3))
    for day in DAYS:
        old.add("eu", first + (day - 1) * 1440 + 600, f"old{day}", True)
    whole = old.to_bytes()
    writer = KafkaProducer(bootstrap_servers=broker)
    part = service_partition("api", spec.partitions)
    writer.send(spec.name, whole, key=b"api|2026-03|eu", partition=part).get(timeout=30)
    writer.close()
    return whole


def test_a_value_the_broker_refuses_leaves_the_value_it_replaces(broker: str) -> None:
    """A checkpoint whose new values are refused must not delete the value they replace.

    An earlier worker stored the region whole (one probe on each of 20 days,
    long committed). The new probes make the checkpoint write 20 day values
    of 60 kB in batches this changelog refuses, and delete the whole value.
    The whole value must stay in the changelog (the probe loop sends a
    checkpoint's tombstones only once its values are acknowledged, whatever
    batches the producer makes), or the old probes would never come back.
    Once the limit is raised, the next worker stores every probe, old and new.
    """
    app = "refused-value"
    spec = ledger_topic(app)
    limited = {**spec.config, "max.message.bytes": SMALL_TOPIC}
    topics.ensure_topics(
        broker, specs=[topics.TopicSpec(spec.name, spec.key, spec.partitions, limited)]
    )
    whole = _stored_whole(broker, spec)
    lines = [
        compact_line(
            probe(
                "api", "eu", f"2026-03-{day:02d}T{i % 24:02d}:{i % 60:02d}:07Z", True, f"n{day}-{i}"
            )
        )
        for day in DAYS
        for i in range(10_000)
    ]
    produce_lines(lines, broker)

    async def fold(until: Callable[[ProbeLoop], bool], what: str) -> ProbeLoop:
        # every probe is folded before the first checkpoint
        loop = ProbeLoop(broker, app, checkpoint_interval=10.0)
        task = asyncio.create_task(loop.run_forever(max_delay=1.0))
        await _until("the restore", lambda: loop.restored_keys > 0, 60)
        await _until(what, lambda: until(loop), 120)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return loop

    refused = asyncio.run(fold(lambda lp: lp.failures >= 1, "a refused checkpoint"))
    assert refused.last_error is not None
    assert "TooLarge" in refused.last_error, refused.last_error
    assert _changelog(broker, spec.name).get(b"api|2026-03|eu") == whole  # no tombstone
    # the operator raises the limit: every probe is stored, none lost
    _set_topic_limit(broker, spec.name, str(1 << 20))

    def stored_all(lp: ProbeLoop) -> bool:
        return lp.stage.stats.events.get("probe", 0) >= len(lines) and lp.checkpoints >= 2

    fixed = asyncio.run(fold(stored_all, "every probe checkpointed"))
    assert fixed.failures == 0, fixed.last_error
    stored = _changelog(broker, spec.name)
    assert stored.pop(b"api|2026-03|eu") is None  # replaced by the days
    restored = _march()
    assert restored.load_many([v for _, v in sorted(stored.items()) if v is not None]) == []
    assert restored.probe_count() == len(lines) + len(DAYS)
