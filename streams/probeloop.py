"""The probe stage's own Kafka loop: probes -> ledgers -> minute states, in large batches.

Why not a Faust agent: Faust hands a stream's events to its agent one
message at a time through its conductor and stream machinery; on this
project's benchmark an agent folding batches of 10,000 received about 4,000
probes per second while the fold itself ran at over 250,000 per second. This
loop takes the records straight from an aiokafka consumer with ``getmany``
(thousands per call), folds them with :class:`streams.probestage.ProbeStage`,
and keeps the same guarantees the Faust table gave:

* **at least once, never twice**: the minute states, dead letters and
  forwarded events of a batch are delivered (``acks=all``) before anything
  else happens; at each checkpoint every ledger touched since the previous
  one goes to the compacted changelog topic ``<app-id>-probe-ledgers-changelog``
  (partition = the service's probe partition) and is acknowledged, and only
  then are the input offsets committed. A crash replays the events after the
  last commit onto a state at least as new as that commit; the ledgers are
  sets keyed by event id, so nothing is counted twice.
* **one writer per ledger**: the consumer group ``<app-id>-probes`` splits the
  probe partitions; a worker keeps only the ledgers of services whose
  partition it owns and sends a probe of any other service back to the probe
  topic under its service key (a producer that keyed it wrongly).
* **rebalances**: when partitions are revoked the loop finishes its batch,
  checkpoints and commits; when that commit succeeds nobody else can have
  written the ledgers it keeps, otherwise (it was expelled from the group) it
  forgets them all. Newly assigned partitions are restored from the
  changelog before their first batch.
* **faults**: whatever ends a run (a broker outage, a timeout, a
  ``CancelledError`` raised inside aiokafka's own tasks rather than by a
  cancellation of this loop) is one failure: logged once, counted, and the
  loop starts again after a growing pause. Only a cancellation of the loop's
  own task stops it. :attr:`ProbeLoop.state` says which it is doing, so the
  worker can report the stage as down while it is not ``running``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener

from streams import topics
from streams.failures import cancelling, describe_failure, failure_of
from streams.probebatch import Sources
from streams.proberestore import ProbeRebalances
from streams.probestate import (
    FETCH_BYTES,
    STEP,
    Audit,
    Received,
    ledger_topic,
    service_partition,
)

__all__ = [
    "FETCH_BYTES",
    "STEP",
    "Audit",
    "ProbeLoop",
    "Received",
    "Sources",
    "cancelling",
    "describe_failure",
    "failure_of",
    "ledger_topic",
    "service_partition",
]

log = logging.getLogger(__name__)


class ProbeLoop(ProbeRebalances):
    """Consume ``availability.probes`` in a consumer group of its own and fold it.

    Its parts, by role: :class:`~streams.probestate.ProbeLoopState` (settings
    and counters), :class:`~streams.probebatch.ProbeBatches` (the batches),
    :class:`~streams.probecheckpoint.ProbeCheckpoints` (the checkpoints) and
    :class:`~streams.proberestore.ProbeRebalances` (rebalances and restore);
    this class starts, runs and stops it.
    """

    # -- life cycle --------------------------------------------------------------

    def _prepare(self) -> int:
        """Blocking: the probe topic's partition count; create the changelog if missing."""
        from kafka import KafkaConsumer

        bounded = int(self.start_timeout * 1000)
        probe = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.app_id}-probes-setup",
            bootstrap_timeout_ms=bounded,
            **self.security.kafka_python(),
        )
        try:
            found = probe.partitions_for_topic(topics.PROBES.name)
        finally:
            probe.close()
        n = len(found) if found else topics.PROBES.partitions
        topics.ensure_topics(
            self.bootstrap,
            specs=[ledger_topic(self.app_id, n)],
            bootstrap_timeout_ms=bounded,
            **self.security.kafka_python(),
        )
        return n

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        loop = asyncio.get_running_loop()
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.app_id}-probes",
            acks="all",
            linger_ms=5,
            max_batch_size=topics.PRODUCER_BATCH_BYTES,
            max_request_size=8 << 20,
            **self.security.aiokafka(),
        )
        # the producer first: it fails at once on a broker that is down, where the
        # set-up's kafka-python clients would wait for it and leave sockets behind
        await self.producer.start()
        self.partitions = await loop.run_in_executor(None, self._prepare)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id=f"{self.app_id}-probes",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=15000,
            heartbeat_interval_ms=3000,
            max_partition_fetch_bytes=FETCH_BYTES,
            **self.security.aiokafka(),
        )
        await self.consumer.start()
        self.consumer.subscribe([topics.PROBES.name], listener=_Listener(self))

    async def run_forever(self, max_delay: float = 10.0) -> None:
        """:meth:`run`, started again (after a growing pause) whenever it fails.

        Returns only when its own task is cancelled (the worker stops). Every
        other exit of :meth:`run`, a ``CancelledError`` that aiokafka raised
        from a task of its own included, is a failure: one log line, one
        more in :attr:`failures`, and a pause of 1 s doubling up to
        ``max_delay`` (back to 1 s after a run that reached ``running``).
        """
        delay = 1.0
        try:
            while True:
                # run() only ends by raising
                failure = await failure_of(self.run()) or RuntimeError("the probe loop returned")
                if self.state == "running":
                    delay = 1.0
                self.state = "restarting"
                self.failures += 1
                self.last_error = describe_failure(failure)
                log.error(
                    "the probe loop failed (%s); starting it again in %.0f s",
                    self.last_error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay)
        finally:
            if cancelling():
                self.state = "stopped"

    async def run(self) -> None:
        """Start, fold batches until cancelled, then checkpoint and leave the group.

        On a failure nothing more is checkpointed: the events after the last
        commit are read again, by this worker when it starts again or by
        whoever takes its partitions. A ``CancelledError`` that does not
        come from a cancellation of this task is raised as it is, for
        :meth:`run_forever` to treat as a failure.
        """
        try:
            await self.start()
            self.state = "running"
            self.last_error = None
            while True:
                batch = await self._fetch()
                async with self._lock:
                    if batch:
                        await self._process(batch)
                    # getmany and the sends return without suspending while records
                    # are at hand and the producer has room: without a yield here,
                    # batch after batch (and the checkpoint) ran in one loop step
                    await asyncio.sleep(0)
                    if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval:
                        await self._checkpoint()
                    elif self.stage.unpublished and (
                        time.monotonic() - self._last_publish >= self.publish_interval
                    ):
                        await self._send(await self._publish())
        except asyncio.CancelledError:
            if cancelling():
                await self._final_checkpoint()
            raise
        finally:
            self.busy = None
            await self._close()

    async def _final_checkpoint(self) -> None:
        if self.consumer is not None and self.assigned:
            async with self._lock:
                await self._checkpoint_and_wait("on the way out")

    async def _close(self, timeout: float = 10.0) -> None:
        """Stop both clients and forget the run's partitions; never raises a client's error.

        aiokafka's ``stop()`` can raise ``CancelledError`` (its background
        tasks were cancelled during an outage) or hang on a dead broker: both
        are logged and the clients dropped. Only a cancellation of this task
        itself goes through.
        """
        stopping: asyncio.CancelledError | None = None
        for client in (self.consumer, self.producer):
            if client is None:
                continue
            try:
                await asyncio.wait_for(client.stop(), timeout)
            except asyncio.CancelledError as exc:
                if cancelling():
                    stopping = exc  # the other client is still closed first
                else:
                    log.warning("closing a probe-loop Kafka client: %s", describe_failure(exc))
            except Exception as exc:
                log.warning("closing a probe-loop Kafka client: %s", describe_failure(exc))
        self.consumer = self.producer = None
        self.assigned = set()
        self._positions.clear()
        self._inflight = []
        if self._committing is not None:
            self._committing.cancel()
            self._committing = None
        if stopping is not None:
            raise stopping


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """aiokafka rebalance callbacks -> :class:`ProbeLoop`."""

    def __init__(self, loop: ProbeLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.loop.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.loop.assigned_to({tp.partition for tp in assigned})
