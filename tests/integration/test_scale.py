"""Several workers in one consumer group on the real broker.

The probe topic is partitioned by service, so workers split the probe
partitions; the statement stage has one partition and runs on whichever
worker owns it. Whatever the split, and when a worker dies mid-stream and
the survivors take its partitions over, billing must read the statements a
single worker (and ``replay``) gives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.localkafka import LocalKafka
from streams.produce import produce_lines
from tests.integration.test_worker import (
    WorkerProcess,
    _expected,
    _scenario_lines,
    _wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]


@pytest.fixture
def broker() -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


def _owners(workers: list[WorkerProcess]) -> list[bool]:
    return [bool(w.get("/health")["owns_statements"]) for w in workers]


def test_two_workers_split_the_partitions_and_give_the_single_worker_statements(
    broker: str, tmp_path: Path
) -> None:
    lines, as_of = _scenario_lines(tmp_path)
    expected = _expected(lines, as_of)
    produce_lines(lines, broker)
    workers = [WorkerProcess(broker, tmp_path, as_of) for _ in range(2)]
    try:
        assert _wait_for(broker, expected) == expected
        # exactly one of them runs the statement stage
        assert sorted(_owners(workers)) == [False, True]
    finally:
        for w in workers:
            w.stop()


def test_three_workers_one_killed_mid_stream_survivors_give_the_same_statements(
    broker: str, tmp_path: Path
) -> None:
    lines, as_of = _scenario_lines(tmp_path)
    expected = _expected(lines, as_of)
    third = len(lines) // 3
    produce_lines(lines[:third], broker)
    workers = [WorkerProcess(broker, tmp_path, as_of) for _ in range(3)]
    try:
        # let the group form and work start, then kill the statement owner
        # while the rest of the month is still being produced
        deadline = time.monotonic() + 180
        owners: list[bool] = []
        while time.monotonic() < deadline:
            try:
                owners = _owners(workers)
            except OSError:
                owners = []
            if sum(owners) == 1:
                break
            time.sleep(1)
        assert sum(owners) == 1, owners
        produce_lines(lines[third : 2 * third], broker)
        victim = workers.pop(owners.index(True))
        victim.kill9()
        victim.stop()
        produce_lines(lines[2 * third :], broker)
        assert _wait_for(broker, expected, timeout=300) == expected
        assert sorted(_owners(workers)) == [False, True]
    finally:
        for w in workers:
            w.stop()
