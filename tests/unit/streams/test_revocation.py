"""A rebalance in the middle of an emit cycle (``StatementPublishing._revoked``, ``_rebalanced``).

Faust calls the worker's revocation handler at the start of every rebalance,
while an emit cycle may be sending a partition's outputs. What was being sent
must reach the broker before the worker rejoins the group (else the
partition's next owner could publish first and be overwritten by an older
output); nothing more may be sent or confirmed afterwards (the record of
what was published belongs to the next owner), and the stages are dropped
rather than reset under a recomputation still running on the stage thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from streams.app import Worker
from streams.messages import Outgoing
from streams.publishing import PUBLISH_GROUP
from streams.statementstage import StatementStage
from tests.unit.streams.publishing_cases import NOW, folded_stage, stub_worker

#: more statements than one group of a publication
CONTRACTS = PUBLISH_GROUP + 150


def _stage() -> StatementStage:
    """A stage of ``CONTRACTS`` contracts over one service, every statement waiting to go."""
    stage = folded_stage(CONTRACTS)
    stage.refresh(NOW, mono=0.0)
    return stage


class _Sends:
    """Stands in for the producer: records each send and holds it until released."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, msgs: list[Outgoing]) -> list[Any]:
        self.sent.extend(msgs)
        self.entered.set()
        await self.release.wait()
        return []


def _worker(sends: _Sends) -> Worker:
    return stub_worker(sends.send)


def test_a_revocation_waits_for_the_group_being_sent_then_nothing_more_goes_out() -> None:
    async def scenario() -> None:
        sends = _Sends()
        worker = _worker(sends)
        stage = _stage()
        worker.stages[0] = stage
        publishing = asyncio.create_task(worker._publish_ready(0, stage, worker._epoch))
        await asyncio.wait_for(sends.entered.wait(), 5)
        revoked = asyncio.create_task(worker._revoked())
        await asyncio.sleep(0.2)
        # the rebalance does not go on while a group is on its way to the broker
        assert not revoked.done()
        assert worker.stages == {}  # dropped at once, not reset under the stage thread
        sends.release.set()
        await asyncio.wait_for(revoked, 5)
        published = await asyncio.wait_for(publishing, 5)
        # the group in flight went out whole; the rest waits for the next owner
        assert len(sends.sent) == PUBLISH_GROUP
        assert published == 0
        # and nothing was recorded as published in the partition's changelog
        assert dict(stage.emitted) == {}

    asyncio.run(scenario())


def test_a_publication_of_an_older_assignment_sends_nothing() -> None:
    async def scenario() -> None:
        sends = _Sends()
        sends.release.set()
        worker = _worker(sends)
        stage = _stage()
        waiting = len(stage._pending)  # the statements and the service's month record
        assert waiting > CONTRACTS
        epoch = worker._epoch
        await worker._revoked()
        assert await worker._publish_ready(0, stage, epoch) == 0
        assert sends.sent == []
        # under the current assignment the same stage publishes every output
        assert await worker._publish_ready(0, stage, worker._epoch) == waiting
        assert len(sends.sent) == waiting
        assert len(dict(stage.emitted)) == waiting

    asyncio.run(scenario())


def test_no_cycle_runs_while_rebalancing_and_its_stages_are_made_anew_after() -> None:
    async def scenario() -> None:
        sends = _Sends()
        sends.release.set()
        worker = _worker(sends)
        stage = _stage()  # as one folded from a batch taken before the revocation
        worker.stages[0] = stage
        epoch = worker._epoch
        worker.app.rebalancing = True
        await worker._emit(force=True)
        assert sends.sent == []
        assert worker.stages == {0: stage}
        # the tables are recovered: what was built from them meanwhile goes
        worker._rebalanced()
        assert worker.stages == {}
        assert await worker._publish_ready(0, stage, epoch) == 0
        assert sends.sent == []

    asyncio.run(scenario())
