"""Records fetched for a partition that is paused before they are delivered are not lost.

The fault is Faust's own: table recovery pauses the stream partitions while
a fetched batch is still being handed to the streams, the rest of the batch
is dropped, and the client's position has moved past it. Here a real Faust
app reads a topic of a real broker, and the partition is paused right after
the first fetch returns its records (what recovery does at start-up) and
resumed a second later. Without :func:`streams.fetchguard.refetch_dropped`
the records of that fetch never reach the agent (the first test shows the
fault is real); with it, every record does.

The second fault is the flow stopping instead of a pause, as at the start of
every rebalance: the fetch is dropped whole, and Faust's seek to committed
offsets (made while the flow is stopped and again once recovery ends) skips
a partition never committed. Without :func:`streams.fetchguard.seek_uncommitted`
that fetch is lost; with it, it is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.types import TP
from kafka import KafkaProducer

from streams import topics
from streams.fetchguard import refetch_dropped, seek_uncommitted

pytestmark = [pytest.mark.kafka]

#: records in the topic before the app starts, and produced once it has resumed
BEFORE, LATER = 200, 50
RECORDS = BEFORE + LATER


def _produce(bootstrap: str, name: str, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for i in range(count):
            producer.send(name, key=b"k", value=str(i).encode(), partition=0)
        producer.flush(30)
    finally:
        producer.close()


def _topic(bootstrap: str) -> str:
    name = f"fetch-guard-{uuid.uuid4().hex[:8]}"
    topics.ensure_topics(bootstrap, specs=[topics.TopicSpec(name, "none", 1)])
    _produce(bootstrap, name, BEFORE)
    return name


def _pause_after_first_fetch(app: faust.App) -> None:
    """Pause the partitions of the first fetch that returns records; resume them 1 s later."""
    consumer: Any = app.consumer
    fetch = consumer._wait_next_records
    done = False

    async def wait_next_records(timeout: float) -> tuple[Any, Any]:
        nonlocal done
        records, active = await fetch(timeout)
        if records and not done:
            done = True
            tps = {TP(tp.topic, tp.partition) for tp in records}
            consumer.pause_partitions(tps)
            asyncio.get_running_loop().call_later(1.0, consumer.resume_partitions, tps)
        return records, active

    consumer._wait_next_records = wait_next_records


def _stop_flow_after_first_fetch(app: faust.App) -> None:
    """Stop the flow once the first fetch returns records, as a revocation does.

    One second later the flow resumes and the consumer seeks its partitions
    to their committed offsets, as Faust's recovery does once the tables are
    restored (``Recovery._resume_streams``).
    """
    consumer: Any = app.consumer
    fetch = consumer._wait_next_records
    done = False

    async def resume() -> None:
        await asyncio.sleep(1.0)
        consumer.resume_flow()
        await consumer.perform_seek()

    async def wait_next_records(timeout: float) -> tuple[Any, Any]:
        nonlocal done
        records, active = await fetch(timeout)
        if records and not done:
            done = True
            consumer.stop_flow()
            app._availability_resume = asyncio.ensure_future(resume())  # type: ignore[attr-defined]
        return records, active

    consumer._wait_next_records = wait_next_records


def raw_app(
    bootstrap: str, app_id: str, name: str, datadir: Path, **conf: Any
) -> tuple[faust.App, Any]:
    """A bare Faust app of ``app_id`` on ``bootstrap`` and its topic ``name`` of raw bytes.

    Its data directory (Faust makes one, even for in-memory tables) is in ``datadir``.
    """
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(datadir / app_id),
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=1,
        **conf,
    )
    topic = app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    return app, topic


async def _offsets_read(
    bootstrap: str, name: str, datadir: Path, guarded: bool, fault: str = "pause"
) -> set[int]:
    """The offsets the agent of a fresh app received within 20 s (or once it had them all).

    ``LATER`` more records are produced 3 s after the app started.
    """
    app, topic = raw_app(bootstrap, f"fetch-guard-{uuid.uuid4().hex[:8]}", name, datadir)
    seen: set[int] = set()
    everything = asyncio.Event()

    async def read(stream: Any) -> None:
        async for event in stream.events():
            seen.add(event.message.offset)
            if len(seen) == RECORDS:
                everything.set()

    app.agent(topic, name="reader")(read)
    if guarded:
        refetch_dropped(app.consumer)
        seek_uncommitted(app.consumer)
    # outermost: the fault comes after the guard saw the fetch
    if fault == "pause":
        _pause_after_first_fetch(app)
    else:
        _stop_flow_after_first_fetch(app)
    await app.start()
    try:
        await asyncio.sleep(3)  # the app has fetched, paused and resumed by now
        await asyncio.to_thread(_produce, bootstrap, name, LATER)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everything.wait(), timeout=20)
    finally:
        await app.stop()
    return seen


def test_without_the_guard_the_paused_fetch_is_lost(kafka_bootstrap: str, tmp_path: Path) -> None:
    name = _topic(kafka_bootstrap)
    seen = asyncio.run(_offsets_read(kafka_bootstrap, name, tmp_path, guarded=False))
    # the later records arrived, the first fetch (from offset 0) was dropped whole
    assert set(range(BEFORE, RECORDS)) <= seen
    assert 0 not in seen


def test_with_the_guard_every_record_arrives(kafka_bootstrap: str, tmp_path: Path) -> None:
    name = _topic(kafka_bootstrap)
    seen = asyncio.run(_offsets_read(kafka_bootstrap, name, tmp_path, guarded=True))
    assert seen == set(range(RECORDS))


def test_without_the_guard_a_fetch_dropped_by_a_stopped_flow_is_lost(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    name = _topic(kafka_bootstrap)
    seen = asyncio.run(_offsets_read(kafka_bootstrap, name, tmp_path, guarded=False, fault="flow"))
    # the later records arrived; the first fetch was dropped and never sought back
    assert set(range(BEFORE, RECORDS)) <= seen
    assert 0 not in seen


def test_with_the_guard_a_stopped_flow_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    name = _topic(kafka_bootstrap)
    seen = asyncio.run(_offsets_read(kafka_bootstrap, name, tmp_path, guarded=True, fault="flow"))
    assert seen == set(range(RECORDS))
