"""The batches of the router and statements agents, each tried until it goes through.

:class:`BatchHandling` forwards the router's batches to the statement
partitions (:meth:`_route_batch`) and folds, delivers, audits and emits the
statements agent's (:meth:`_statements_batch`). Neither raises: a batch that
fails is tried again with a growing pause (:meth:`_until_done`) until it goes
through or its partitions move to another worker; a batch given up that way
is never acknowledged (:func:`_give_back`), so no offset is committed past it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from schemas.codec import Rejected
from streams import router, topics
from streams.failures import describe_failure, failure_of
from streams.fetchguard import read_again
from streams.messages import Outgoing, dead_letter_message
from streams.probestate import Received
from streams.publishing import StatementPublishing
from streams.workerconfig import WorkerConfig

#: one logger for every layer of the worker: its log lines are all ``streams.app``'s
log = logging.getLogger("streams.app")

#: the dead-letter detail of a null value on an input topic
TOMBSTONE = "a null value (tombstone) is not an event"

#: per statement partition: (topic, value, source) of each event to fold
Items = dict[int, list[tuple[str, bytes, dict[str, Any]]]]
#: per statement partition: the source of each tombstone
Tombstones = dict[int, list[dict[str, Any]]]


class BatchHandling(StatementPublishing):
    """The router's and the statements agent's batches, and their retries."""

    def __init__(self, cfg: WorkerConfig) -> None:
        super().__init__(cfg)
        self.dead_letters: dict[str, int] = {}
        self.stage2_failures = 0
        self._last_input = 0.0

    async def _route_batch(self, events: list[Any]) -> None:
        """Forward one batch of the stage's public inputs to their statement partitions.

        Never raises, like :meth:`_statements_batch`: the batch is acknowledged
        (so its offsets may be committed) only once every forwarded message is
        in Kafka; a failure is tried again after a pause growing to 10 s, until
        it goes through or the inputs have moved to another worker. Sending
        again is harmless: the stage folds sets and versioned states.
        """
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()
        self._busy["router"] = [loop.time(), "forward"]
        n = self.statement_inputs.partitions
        sends: list[tuple[int, Any, bytes | None, float | None, list[tuple[str, bytes]]]] = []
        for e in events:
            msg = e.message
            value = None if e.value is None else bytes(e.value)
            headers = router.source_headers(msg.topic, msg.partition, msg.offset)
            for p in router.targets(msg.topic, value, n):
                sends.append((p, e.key, value, msg.timestamp or None, headers))
        topic = self.statement_inputs.name
        send = self.app.producer.send

        async def forward() -> None:
            futures = [await send(topic, k, v, p, t, h) for p, k, v, t, h in sends]
            await self.app.producer.flush()
            for fut in futures:
                await fut

        try:
            done = await self._until_done(
                "router",
                forward,
                lambda why: f"a batch of {len(events)} inputs could not be forwarded: {why}",
                self._owns_router,
            )
            if not done:
                _give_back(self.app.consumer, events)
        finally:
            self._busy.pop("router", None)

    async def _statements_batch(self, events: list[Any]) -> None:
        """Fold, deliver, audit and emit one batch of the statements agent; never raises.

        Faust acknowledges the events of an agent that raised, which would
        lose the batch, so a failure (the broker gone, a changelog write not
        acknowledged, a fold bug) is logged and the same batch is tried again
        after a pause growing to 10 s, until it is done or its partitions have
        moved to another worker (which reads them again from the committed
        offsets). Folding again is harmless: the stage is a fold over sets. A
        tombstone (null value) is dead-lettered, never folded. Each event is
        folded by the stage of its statement partition.
        """
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()
        busy = self._busy["statements"] = [loop.time(), "fold"]
        items, tombstones, received = _sort_events(events)
        out: list[Outgoing] | None = None

        async def attempt() -> None:
            nonlocal out
            if out is None:
                busy[1] = "fold"
                out = await self._fold(items, tombstones)
                self._last_fold = loop.time()
                if self._dirty_since is None:
                    self._dirty_since = self._last_fold
            busy[1] = "send"
            await self._send(out)
            busy[1] = "table changelogs"
            await self._tables_delivered()
            busy[1] = "audit"
            await self._audit(received, out)
            busy[1] = "emit"
            if not self._emit_lock.locked():
                # else the cycle running takes the stages this batch changed in
                # its next round (``_emit``): waiting for it here would hold
                # the next batch, a failing minute's states, until it ends
                await self._emit(force=False)

        try:
            done = await self._until_done(
                "statement stage",
                attempt,
                lambda why: f"a batch of {len(events)} events failed at {busy[1]}: {why}",
                self._owns_stage2,
            )
            if not done:
                _give_back(self.app.consumer, events)
        finally:
            self._busy.pop("statements", None)

    async def _fold(self, items: Items, tombstones: Tombstones) -> list[Outgoing]:
        """Fold each statement partition's events in its stage; what the folds produced."""
        folded: list[Outgoing] = []
        async with self._stage_lock:
            for p in sorted(set(items) | set(tombstones)):
                stage = self._stage(p)
                folded.extend(stage.process(items.get(p, [])))
                # after process(), whose first call builds the folder
                rej = Rejected("invalid_json", TOMBSTONE, b"")
                folded.extend(
                    dead_letter_message(stage.folder.reject(rej, src))
                    for src in tombstones.get(p, [])
                )
                await asyncio.sleep(0)  # one partition's fold at a time
        return folded

    async def _until_done(
        self,
        who: str,
        attempt: Callable[[], Awaitable[None]],
        failed: Callable[[str], str],
        owns: Callable[[], bool],
    ) -> bool:
        """Run ``attempt`` until it goes through (True), or until ``owns()`` says it moved (False).

        Never raises but for this task's own cancellation. A failure is
        counted, shown as the reason the statement stage is down
        (``failed(why)``), logged, and tried again after a pause growing from
        0.5 s to 10 s; a batch whose partitions moved to another worker is
        left to it (it reads them again from the committed offsets), and the
        caller gives its events back (:func:`_give_back`).
        """
        delay = 0.5
        while True:
            failure = await failure_of(attempt())
            if failure is None:
                if self._batch_errors.get(who) is not None:
                    log.info("%s: the batch went through after all", who)
                self._batch_errors[who] = None
                return True
            self.stage2_failures += 1
            error = self._batch_errors[who] = failed(describe_failure(failure))
            log.error("%s: %s; trying it again in %.1f s", who, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            if not owns():
                log.warning("%s: its partitions moved away; the batch is theirs", who)
                self._batch_errors[who] = None
                return False


def _give_back(consumer: Any, events: list[Any]) -> None:
    """Leave a batch that was given up unacknowledged, and read again where it is still ours.

    Faust acknowledges every event of a batch once the agent takes the next
    one, done or not; an acknowledged event's offset may be committed, and
    an event given up during a rebalance was then lost for good if this
    worker kept its partition (the commit of the new assignment passed it).
    Each event is marked as acknowledged already, so Faust does not count it
    and the commit stops before it; a partition still assigned here is
    fetched again from the batch's first offset in it
    (:func:`streams.fetchguard.read_again`), and the owner of one that moved
    reads it from the committed offset.
    """
    first: dict[Any, int] = {}
    for e in events:
        msg = e.message
        msg.acked = True
        first[msg.tp] = min(first.get(msg.tp, msg.offset), msg.offset)
    try:
        assigned = consumer.assignment()
    except Exception:
        return  # none to seek: the stall heal finds a partition stuck behind the batch
    for tp, offset in first.items():
        if tp in assigned and read_again(consumer, tp, offset):
            log.warning("%s:%d: a batch given back from offset %d", tp.topic, tp.partition, offset)


def _sort_events(events: list[Any]) -> tuple[Items, Tombstones, list[Received]]:
    """A batch of the statements agent by partition: its events, its tombstones, the audited."""
    items: Items = {}
    tombstones: Tombstones = {}
    received: list[Received] = []
    for e in events:
        p = e.message.partition
        src = router.source_of(e.message.headers) or _source(e)
        if e.value is None:
            tombstones.setdefault(p, []).append(src)
            continue
        raw = bytes(e.value)
        topic = src["topic"]
        items.setdefault(p, []).append((topic, raw, src))
        # audited once: a broadcast input by the primary partition only
        if topic != topics.MINUTE_STATES.name and (
            p == router.PRIMARY or topic not in router.BROADCAST
        ):
            received.append(Received(raw, e.message.timestamp or None, src))
    return items, tombstones, received


def _source(event: Any) -> dict[str, Any]:
    msg = event.message
    return {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
