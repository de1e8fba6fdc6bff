"""A batch the worker gives up is read again, and no offset is committed past it.

The router and the statements agent give a batch up when it keeps failing
and their partitions seem to have moved (a rebalance). Faust acknowledges
every event of a ``take_events`` batch once the agent asks for the next, done
or not, and the commit then moves past events nobody folded: if the worker
kept the partition, they were lost for good. Here a real Faust app on the
real broker gives its first batch up: without
:func:`streams.batches._give_back` its offsets are committed and never read
(the first test shows the fault is real); with it, every record is read and
the committed offset reaches the end only once they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.batches import _give_back
from streams.fetchguard import refetch_dropped
from tests.integration.test_fetch_guard import _topic, raw_app

pytestmark = [pytest.mark.kafka]

#: records in the topic (``test_fetch_guard.BEFORE``) and the size of a batch
RECORDS, BATCH = 200, 50


async def _read(bootstrap: str, name: str, group: str, datadir: Path, give_back: bool) -> set[int]:
    """Offsets a fresh app folded within 20 s; its first batch is given up."""
    app, topic = raw_app(
        bootstrap, group, name, datadir, broker_commit_interval=0.5, stream_wait_empty=False
    )
    folded: set[int] = set()
    everything = asyncio.Event()
    given_up = False

    async def read(stream: Any) -> None:
        nonlocal given_up
        async for events in stream.take_events(BATCH, 1.0):
            if not given_up:
                given_up = True
                if give_back:
                    _give_back(app.consumer, events)
                continue  # as the worker's agents do once a batch is given up
            folded.update(e.message.offset for e in events)
            if len(folded) == RECORDS:
                everything.set()

    app.agent(topic, name="reader")(read)
    refetch_dropped(app.consumer)  # as the worker's consumer
    await app.start()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everything.wait(), timeout=20)
        await asyncio.sleep(2)  # a few commits
        await app.consumer.commit()
    finally:
        await app.stop()
    return folded


def _committed(bootstrap: str, group: str, name: str) -> int | None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        found = consumer.committed(TopicPartition(name, 0))
    finally:
        consumer.close()
    return None if found is None else int(found)


def test_a_batch_given_up_and_acknowledged_is_lost(kafka_bootstrap: str, tmp_path: Path) -> None:
    name = _topic(kafka_bootstrap)
    group = f"given-back-{uuid.uuid4().hex[:8]}"
    folded = asyncio.run(_read(kafka_bootstrap, name, group, tmp_path, give_back=False))
    # the rest was folded and committed, the first batch never
    assert set(range(BATCH, RECORDS)) <= folded
    assert not folded & set(range(BATCH))
    assert _committed(kafka_bootstrap, group, name) == RECORDS


def test_a_batch_given_back_is_read_again(kafka_bootstrap: str, tmp_path: Path) -> None:
    name = _topic(kafka_bootstrap)
    group = f"given-back-{uuid.uuid4().hex[:8]}"
    folded = asyncio.run(_read(kafka_bootstrap, name, group, tmp_path, give_back=True))
    assert folded == set(range(RECORDS))
    assert _committed(kafka_bootstrap, group, name) == RECORDS
