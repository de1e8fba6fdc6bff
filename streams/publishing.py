"""The statement stage's emit cycle: recompute each owned partition, publish what changed.

:class:`StatementPublishing` runs a cycle (:meth:`_emit`) from the
statements agent after a batch and from the ``refresh`` timer: each statement
partition is recomputed on the stage's own thread while the one before it
publishes, and its outputs are sent, stored and then confirmed in groups.

A rebalance ends the cycle (:meth:`_revoked`): the stages are dropped and
nothing computed before it is published or confirmed after it, and what was
being sent reaches the broker before the worker rejoins the group, so a
partition's new owner always publishes after its old one. No cycle runs
until the tables are recovered, and the stages are then made anew from them
(:meth:`_rebalanced`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from streams.failures import describe_failure
from streams.health import WorkerHealth
from streams.looplag import DELAY_BUCKETS, Samples
from streams.messages import Outgoing
from streams.statementstage import StatementStage
from streams.workerconfig import WorkerConfig

#: one logger for every layer of the worker: its log lines are all ``streams.app``'s
log = logging.getLogger("streams.app")


#: outputs published (sent, then stored, then confirmed) together: one wait for
#: the broker and one for the store per group, not per slice
PUBLISH_GROUP = 500
#: outputs sent or confirmed between two returns to the event loop
PUBLISH_SLICE = 100
#: seconds a revocation waits for the group of outputs being sent (Faust's own
#: revocation warns at 95 % of the 15 s session timeout)
REVOKE_WAIT = 10.0


class StatementPublishing(WorkerHealth):
    """The emit cycle: recomputations on the stage thread, publications on the loop."""

    def __init__(self, cfg: WorkerConfig) -> None:
        super().__init__(cfg)
        self._emit_lock = asyncio.Lock()
        #: held while the statement stage folds (on the loop) or recomputes (on its
        #: thread): the book is never read and changed at once
        self._stage_lock = asyncio.Lock()
        #: the statement stage's recomputation runs here, off the event loop
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statements")
        #: the next instant a ticket becomes at risk or breached (re-evaluate then)
        self._next_due: datetime | None = None
        #: how the last emit cycle that recomputed went (see ``_emit``), for /health
        self.last_cycle: dict[str, Any] = {}
        #: per emit cycle that took in new inputs: seconds from the first of them
        #: being folded to the publication of the last real change they made
        #: (``availability_statement_delay_seconds``); not a cycle that made a stage
        #: anew (a start or a rebalance: a recovery, which the lag shows)
        self.statement_delay = Samples(DELAY_BUCKETS)
        #: wall seconds spent publishing outputs since start, by step: sending them
        #: and waiting for the broker, storing them, confirming them (the record of
        #: what was published, in the changelog)
        self.publish_phases = {"send": 0.0, "store": 0.0, "confirm": 0.0}
        self._last_emit = 0.0
        #: when the statements agent last folded a batch, and the first fold not
        #: yet recomputed (see ``WorkerConfig.inputs_quiet``)
        self._last_fold = 0.0
        self._dirty_since: float | None = None
        #: when the last cycle that recomputed every owned partition began
        self._last_refresh = 0.0
        #: per statement partition, when its outputs next change with no new event
        self._due: dict[int, datetime | None] = {}
        #: the assignment's number, one up at every revocation: a cycle started
        #: under an older one publishes and confirms nothing more
        self._epoch = 0
        #: held while a group of outputs is sent: a revocation waits for it
        self._publish_gate = asyncio.Lock()

    async def _revoked(self) -> None:
        """The partitions are revoked: end the cycle, drop the stages, let the sends land.

        The stages are dropped, not reset: the one being recomputed on the
        stage thread is not changed under it, and each partition's next stage
        is rebuilt from the tables once assigned. A group of outputs being sent
        is waited for (at most :data:`REVOKE_WAIT`), so every output this
        worker sent under the old assignment is in Kafka before it rejoins
        the group, ahead of anything the partition's next owner publishes.
        """
        self._end_assignment()
        if self._emit_lock.locked():
            log.info("partitions revoked during an emit cycle: it ends here")
        try:
            async with asyncio.timeout(REVOKE_WAIT):
                async with self._publish_gate:
                    pass
        except TimeoutError:
            log.warning("partitions revoked while outputs were still being sent")

    def _rebalanced(self) -> None:
        """The tables are recovered: drop the stages made during the rebalance.

        A batch taken before the revocation is still folded while the tables
        are being recovered, and its stage is built from what they held then:
        kept, it would miss every event recovered after it (a contract, a
        ticket) for as long as the assignment lasts. The next use rebuilds
        each stage from the recovered tables.
        """
        self._end_assignment()

    def _end_assignment(self) -> None:
        """What a cycle computed from now on is dropped: a new epoch, no stage kept."""
        self._epoch += 1
        self.stages.clear()

    async def _send(self, msgs: list[Outgoing]) -> list[Any]:
        """Enqueue ``msgs``; the futures of their delivery.

        Faust flushes the producer before it commits an agent's offsets, so a
        batch need not wait for them; a publication from the timer does.
        """
        # straight to the producer: Faust's topic layer (its future message, sensors
        # and callbacks) doubled the loop's cost of a send; the partition is the
        # same, chosen by the producer's partitioner from the key
        send = self.app.producer.send
        return [await send(m.topic, m.key, m.value, None, None, None) for m in msgs]

    async def _tables_delivered(self) -> None:
        """Every table write so far is in Kafka (before the batch is acknowledged)."""
        for stores in list(self._stores.values()):
            for store in stores:
                await store.delivered()

    async def _emit(self, force: bool) -> None:
        # the agent and the timer both emit; one at a time, so the record of
        # what was published is confirmed in the order it was published
        async with self._emit_lock:
            if self.app.rebalancing:
                return  # the stages are rebuilt once the tables are recovered
            loop = asyncio.get_running_loop()
            now = loop.time()
            if not force and now - self._last_emit < self.cfg.emit_interval:
                return
            since = self._dirty_since
            if self._inputs_arriving(now):
                return
            self._dirty_since = None
            self._last_emit = start = loop.time()
            stages = self._sync_stages()
            epoch = self._epoch
            # a stage made anew (start, rebalance) reads its tables and recomputes its
            # whole book: a recovery, not the delay the book's inputs see
            rebuilt = any(not st.ready for _, st in stages)
            cycle: dict[str, Any] = {"pass1": [], "pass2": []}
            # the real changes of every partition first, then what only its coverage
            # tick moved: a failing minute's statements never queue behind the
            # coverage of another partition's fifth of the book
            first = [(p, st, force or st.dirty or not st.ready, True) for p, st in stages]
            if all(step[2] for step in first):
                # every partition is recomputed: the refresh the timer forces after
                # ``refresh_interval`` without one (this may be it), so a live book's
                # new minutes, which recompute them all, make the timer's own rare
                self._last_refresh = start
            recomputed = await self._pass(first, force, cycle["pass1"], epoch)
            # Inputs folded meanwhile (a partition recomputed early in the pass missed
            # the states that arrived after it: a failing service's, a minute begun)
            # go before the coverage too, for at most two more rounds.
            for _ in range(2):
                again = [(p, st, True, True) for p, st in stages if st.dirty]
                if not again or self._epoch != epoch:
                    break
                recomputed |= await self._pass(again, False, cycle["pass1"], epoch)
            if since is not None and recomputed and not rebuilt and self._epoch == epoch:
                # every real change the inputs made is published: coverage comes second
                end = loop.time()
                self.statement_delay.record(end - since, end)
            second = [(p, st, True, False) for p, st in stages if p in recomputed and st.deferred]
            await self._pass(second, True, cycle["pass2"], epoch)
            if self._epoch != epoch:
                return  # a rebalance: the next cycle runs on the new assignment's stages
            if recomputed:
                cycle["seconds"] = round(loop.time() - start, 3)
                cycle["forced"] = force
                self.last_cycle = cycle
            self._cycle_done()

    def _inputs_arriving(self, now: float) -> bool:
        """More of the change being folded is on its way: one pass for all of it, later.

        A forced refresh waits too (the timer tries again): started in the
        middle of a burst (a minute's new states), it would recompute the
        partitions before the rest of the burst reached them.
        """
        since = self._dirty_since
        return (
            since is not None
            and now - self._last_fold < self.cfg.inputs_quiet
            and now - since < self.cfg.inputs_max_wait
        )

    def _cycle_done(self) -> None:
        """A whole cycle ran: the next ticket deadline among the partitions still held."""
        for p in [p for p in self._due if p not in self.stages]:
            del self._due[p]
        self._next_due = min((d for d in self._due.values() if d is not None), default=None)
        self._emit_error = None

    async def _pass(
        self,
        steps: list[tuple[int, StatementStage, bool, bool]],
        force: bool,
        timings: list[dict[str, Any]],
        epoch: int,
    ) -> set[int]:
        """Recompute and publish each partition in turn; the partitions recomputed.

        ``steps``: (partition, stage, recompute?, defer?). With ``defer``,
        statements whose coverage tick alone moved are left for a second pass
        (``stage.deferred``), which :meth:`_emit` runs after the first pass of
        every partition. A partition's outputs are published after its own
        recomputation, and meanwhile the next partition recomputes on the stage
        thread: the publication waits on the broker, the recomputation on the
        CPU, and neither waits for the other. Once the partitions are revoked
        (``epoch`` is not the current one) nothing more is done.
        """
        loop = asyncio.get_running_loop()
        recomputed: set[int] = set()

        def start(i: int) -> asyncio.Future[float] | None:
            if i >= len(steps) or not steps[i][2] or self._epoch != epoch:
                return None
            _, stage, _, defer = steps[i]
            if not stage.ready:
                stage.rebuild()  # reads the tables: on the loop, once per assignment
            return asyncio.ensure_future(self._recompute(stage, force, defer))

        ahead = start(0)
        try:
            for i, (partition, stage, recompute, defer) in enumerate(steps):
                if self._epoch != epoch:
                    break
                current, ahead = ahead, None
                took = 0.0
                if current is not None:
                    took = await current
                    recomputed.add(partition)
                    if defer:
                        self._due[partition] = stage.next_due(self.cfg.clock())
                ahead = start(i + 1)
                t0 = loop.time()
                n = await self._publish_ready(partition, stage, epoch)
                if recompute:
                    timings.append(_timing(partition, took, loop.time() - t0, n))
        finally:
            if ahead is not None:
                # a publication failed while the next partition recomputed: that one's
                # outputs wait (``stage.dirty`` is cleared) and go out with the next cycle
                ahead.add_done_callback(_recompute_done)
        return recomputed

    async def _recompute(self, stage: StatementStage, force: bool, defer: bool) -> float:
        """:meth:`StatementStage.refresh` on the stage thread; its wall seconds."""
        loop = asyncio.get_running_loop()
        async with self._stage_lock:
            # the costly part, on the stage's own thread: heartbeats, timers,
            # the probe loop and the HTTP API go on meanwhile
            t0 = loop.time()
            await loop.run_in_executor(
                self._cpu, self._refresh, stage, self.cfg.clock(), t0, force, defer
            )
            return loop.time() - t0

    async def _publish_ready(self, partition: int, stage: StatementStage, epoch: int) -> int:
        """Publish what waits, in groups sent and confirmed in slices; how many were published.

        A book whose every statement changed (a new minute of the month) never
        holds the loop for the whole book, and waits for the broker, the store
        and the changelog once per group of :data:`PUBLISH_GROUP`. Nothing is
        sent or confirmed once the partitions were revoked (``epoch`` moved on):
        the record of what was published belongs to the partition's next owner.
        """
        loop = asyncio.get_running_loop()
        published = 0
        while True:
            async with self._publish_gate:
                if self._epoch != epoch:
                    return published
                changed = stage.ready_outputs(
                    loop.time(),
                    settle=self.cfg.settle_seconds,
                    hold_final=not self.caught_up,
                    limit=PUBLISH_GROUP,
                )
                if not changed:
                    return published
                t_start = loop.time()
                slices = [
                    changed[i : i + PUBLISH_SLICE] for i in range(0, len(changed), PUBLISH_SLICE)
                ]
                futures: list[Any] = []
                for part in slices:
                    futures.extend(await self._send([m for m, _ in part]))
                    await asyncio.sleep(0)
                await self.app.producer.flush()
                for fut in futures:
                    await fut
            t_sent = loop.time()
            # stored before they are recorded as published, so a crash while the
            # store is down publishes and stores them again, never leaves them unstored
            await self._store([o for _, o in changed])
            t_stored = loop.time()
            if self._epoch != epoch:
                return published  # sent and stored: the next owner confirms its own
            # only now that billing can read them: a crash before this line
            # publishes them again (same revision), never skips them
            for part in slices:
                stage.confirm([o for _, o in part])
                await asyncio.sleep(0)
            await self._tables_delivered()
            self.publish_phases["send"] += t_sent - t_start
            self.publish_phases["store"] += t_stored - t_sent
            self.publish_phases["confirm"] += loop.time() - t_stored
            self.published[partition] = self.published.get(partition, 0) + len(changed)
            published += len(changed)

    def _refresh(
        self, stage: StatementStage, now: datetime, mono: float, force: bool, defer: bool
    ) -> None:
        """A statement stage's recomputation (on its thread), then a garbage-collector freeze.

        What a recomputation keeps (thousands of outputs and the shared
        results behind them) lives until the next one; frozen, the cyclic
        collector no longer scans it, where a full collection of a large book
        held the loop for seconds. Frozen objects are still freed by
        reference counting when dropped; only reference cycles among them
        would outlive their use, and the outputs have none.
        """
        # The collector stays off until the new objects are frozen: switched back on
        # first, its next collection would scan the millions of objects the pass
        # made, in one piece of C that holds the GIL (and so the event loop) for
        # as long as it takes, half a second at 10,000 contracts.
        collecting = gc.isenabled()
        gc.disable()
        try:
            stage.refresh(now, mono, force, defer)
        finally:
            gc.freeze()
            if collecting:
                gc.enable()

    def _emit_failed(self, exc: BaseException) -> None:
        first = self._emit_error is None
        self._emit_error = f"outputs cannot be published: {describe_failure(exc)}"
        if first:
            log.error("statement stage: %s (tried again every second)", self._emit_error)


def _timing(partition: int, recompute: float, publish: float, published: int) -> dict[str, Any]:
    """One partition's share of an emit cycle, in wall seconds."""
    return {
        "partition": partition,
        "recompute_seconds": round(recompute, 3),
        "publish_seconds": round(publish, 3),
        "published": published,
    }


def _recompute_done(fut: asyncio.Future[float]) -> None:
    """Collect a recomputation nobody waits for any more (its failure is logged)."""
    if not fut.cancelled() and fut.exception() is not None:
        log.error("a statement recomputation failed: %s", fut.exception())
