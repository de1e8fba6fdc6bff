"""Several workers in one consumer group on the real broker.

The probe topic is partitioned by service and the statement stage's inputs
by contract (``streams.router``), so workers split both. Whatever the split,
and when a worker dies mid-stream and the survivors take its partitions
over, billing must read the statements a single worker (and ``replay``)
gives, and each worker publishes the statements of its own partitions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.book_of_business import book_contracts
from devkit.localkafka import LocalKafka
from sla.months import Month
from streams.router import STATEMENT_PARTITIONS
from tests.integration.worker_process import (
    WorkerProcess,
    replay_outputs,
    scenario_lines,
    wait_for_outputs,
)
from tools.produce import produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]


@pytest.fixture
def broker() -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


def _partitions(workers: list[WorkerProcess]) -> list[list[int]]:
    """The statement partitions each worker owns."""
    return [list(w.get("/health")["statement_partitions"]) for w in workers]


def _published(worker: WorkerProcess) -> int:
    counts = worker.get("/health")["statements"]["published_by_partition"]
    return sum(int(n) for n in counts.values())


def _split_evenly(workers: list[WorkerProcess]) -> list[list[int]]:
    """Wait until the workers own every statement partition, each an even share."""
    owned: list[list[int]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            owned = _partitions(workers)
        except OSError:
            owned = []
        flat = sorted(p for ps in owned for p in ps)
        share = STATEMENT_PARTITIONS // len(workers)
        if flat == list(range(STATEMENT_PARTITIONS)) and all(len(ps) == share for ps in owned):
            return owned
        time.sleep(1)
    raise AssertionError(f"statement partitions not shared out evenly: {owned}")


def test_two_workers_split_the_partitions_and_give_the_single_worker_statements(
    broker: str, tmp_path: Path
) -> None:
    lines, as_of = scenario_lines(tmp_path)
    expected = replay_outputs(lines, as_of)
    produce_lines(lines, broker)
    workers = [WorkerProcess(broker, tmp_path, as_of) for _ in range(2)]
    try:
        assert wait_for_outputs(broker, expected) == expected
        # each runs half of the statement stage and published statements of its own
        _split_evenly(workers)
        assert all(_published(w) > 0 for w in workers), [w.get("/health") for w in workers]
    finally:
        for w in workers:
            w.stop()


def test_three_workers_one_killed_mid_stream_survivors_give_the_same_statements(
    broker: str, tmp_path: Path
) -> None:
    lines, as_of = scenario_lines(tmp_path)
    expected = replay_outputs(lines, as_of)
    third = len(lines) // 3
    produce_lines(lines[:third], broker)
    workers = [WorkerProcess(broker, tmp_path, as_of) for _ in range(3)]
    try:
        # let the group form and work start, then kill the owner of the primary
        # statement partition while the rest of the month is still being produced
        owned = _split_evenly(workers)
        produce_lines(lines[third : 2 * third], broker)
        victim = workers.pop(next(i for i, ps in enumerate(owned) if 0 in ps))
        victim.kill9()
        victim.stop()
        produce_lines(lines[2 * third :], broker)
        assert wait_for_outputs(broker, expected, timeout=300) == expected
        _split_evenly(workers)
    finally:
        for w in workers:
            w.stop()


def test_a_worker_joining_while_statements_are_published_changes_no_output(
    broker: str, tmp_path: Path
) -> None:
    # a book large enough that the first worker publishes in several groups
    lines, as_of = scenario_lines(tmp_path)
    book = book_contracts(3000, ("api", "web"), Month(2026, 3), prefix="PO-J")
    lines += [json.dumps(ev).encode() for ev in book]
    expected = replay_outputs(lines, as_of)
    produce_lines(lines, broker)
    workers = [WorkerProcess(broker, tmp_path, as_of)]
    try:
        # the second joins as soon as the first has published anything: the
        # rebalance lands in the middle of its publication (the first worker's
        # cycle is fenced, the partitions it gives up are published by the other)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if _published(workers[0]) > 0:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        workers.append(WorkerProcess(broker, tmp_path, as_of))
        assert wait_for_outputs(broker, expected, timeout=300) == expected
        _split_evenly(workers)
    finally:
        for w in workers:
            w.stop()
