"""The statement stage's delay: inputs folded -> their statements published (one sample a cycle).

``availability_statement_delay_seconds`` tells an operator how far the
statements trail the inputs, the figure that grows with the book and falls
with more workers. One sample per emit cycle that took in new inputs: from
the first of them being folded to the publication of the last real change
they made; a cycle with nothing new (the refresh timer) adds none, nor does
one that made a stage anew from its tables (a start or a rebalance: a
recovery, which the consumer lag shows). A cycle that recomputes every
partition also counts as the periodic refresh the timer would force.
"""

from __future__ import annotations

import asyncio
from typing import Any

from streams import topics
from streams.app import Worker
from streams.messages import Outgoing
from streams.statementstage import StatementStage
from tests.unit.streams.publishing_cases import NOW, folded_stage, stub_worker

#: how long before the cycle the first input it takes in was folded
FOLDED_AGO = 2.0


def _worker(sent: list[Outgoing]) -> Worker:
    """A worker owning statement partition 0 whose sends land in ``sent`` (no broker)."""

    async def send(msgs: list[Outgoing]) -> list[Any]:
        sent.extend(msgs)
        return []

    return stub_worker(send, at_now=True)


def test_a_cycle_that_takes_in_inputs_records_their_delay_to_publication() -> None:
    async def scenario() -> None:
        sent: list[Outgoing] = []
        worker = _worker(sent)
        stage = worker.stages[0] = folded_stage(20)
        loop = asyncio.get_running_loop()
        worker._dirty_since = loop.time() - FOLDED_AGO
        worker._last_fold = worker._dirty_since  # quiet since: the cycle runs now
        before = loop.time()
        await worker._emit(force=False)
        after = loop.time()
        # the cycle published the statements the inputs made
        assert {m.topic for m in sent} >= {topics.STATEMENTS.name}
        assert len(dict(stage.emitted)) == len(sent)
        assert worker.statement_delay.count == 1
        delay = worker.statement_delay.total
        assert FOLDED_AGO <= delay <= FOLDED_AGO + (after - before)
        assert worker.statement_delay.recent()["max_seconds"] == round(delay, 4)
        # and it shows in the metrics: one sample, in the bucket of its seconds
        stats = worker.pipeline()
        assert stats.statement_delay_buckets[-1] == (float("inf"), 1)
        assert stats.statement_delay_sum == delay

    asyncio.run(scenario())


def test_a_cycle_with_no_new_input_records_nothing() -> None:
    async def scenario() -> None:
        sent: list[Outgoing] = []
        worker = _worker(sent)
        stage = worker.stages[0] = folded_stage(5)
        stage.refresh(NOW, mono=0.0)  # what the inputs made is already computed
        await worker._emit(force=True)  # the refresh timer's cycle
        assert sent  # it publishes what waited
        assert worker.statement_delay.count == 0
        assert worker.pipeline().statement_delay_buckets == ()

    asyncio.run(scenario())


def test_a_cycle_that_makes_a_stage_anew_records_nothing() -> None:
    async def scenario() -> None:
        sent: list[Outgoing] = []
        worker = _worker(sent)
        events: dict[str, bytes] = {}
        folded_stage(5, events)
        # the partition's stage as a worker that took it over makes it: from the table
        worker.stages[0] = anew = StatementStage(events, {})
        assert not anew.ready
        loop = asyncio.get_running_loop()
        worker._dirty_since = worker._last_fold = loop.time() - FOLDED_AGO
        await worker._emit(force=False)
        assert anew.ready
        assert sent  # the recovered statements went out
        assert worker.statement_delay.count == 0

    asyncio.run(scenario())


def test_a_cycle_that_recomputes_every_partition_puts_off_the_forced_refresh() -> None:
    """The timer forces a cycle only after ``refresh_interval`` with none recomputing all.

    A live book's new minute recomputes every partition; counted as the refresh,
    the timer's own cycles never land on a minute's start and hold it up.
    """

    async def scenario() -> None:
        sent: list[Outgoing] = []
        worker = _worker(sent)
        stage = worker.stages[0] = folded_stage(5)
        loop = asyncio.get_running_loop()
        worker._dirty_since = worker._last_fold = loop.time() - FOLDED_AGO
        start = loop.time()
        await worker._emit(force=False)
        assert start <= worker._last_refresh <= loop.time()
        assert worker.last_cycle["forced"] is False
        # nothing new: a tick within the interval recomputes nothing
        refreshed, before = worker._last_refresh, worker.last_cycle
        await worker._refresh_tick()
        assert worker.last_cycle is before
        assert worker._last_refresh == refreshed
        assert not stage.dirty
        # once the interval has passed with no such cycle, the tick forces one
        worker._last_refresh -= worker.cfg.refresh_interval
        await worker._refresh_tick()
        assert worker.last_cycle is not before
        assert worker.last_cycle["forced"] is True
        assert worker._last_refresh > refreshed - worker.cfg.refresh_interval

    asyncio.run(scenario())


def test_a_forced_refresh_waits_for_a_burst_of_inputs_to_settle() -> None:
    """Forced in the middle of a burst, the cycle would miss the rest of it: it waits."""

    async def scenario() -> None:
        sent: list[Outgoing] = []
        worker = _worker(sent)
        worker.stages[0] = folded_stage(5)
        loop = asyncio.get_running_loop()
        worker._last_refresh = loop.time() - worker.cfg.refresh_interval  # a refresh is due
        worker._dirty_since = worker._last_fold = loop.time()  # and inputs are arriving
        await worker._refresh_tick()
        assert worker.last_cycle == {}  # put off
        assert not sent
        # the burst is over (quiet for longer than inputs_quiet): the next tick runs it
        worker._last_fold = loop.time() - worker.cfg.inputs_quiet
        await worker._refresh_tick()
        assert worker.last_cycle["forced"] is True
        assert sent
        assert worker._last_refresh > loop.time() - worker.cfg.refresh_interval

    asyncio.run(scenario())
