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
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from aiokafka.abc import ConsumerRebalanceListener
from kafka.partitioner.default import murmur2

from sla.book import Settings
from streams import topics
from streams.kafkaconf import KafkaSecurity
from streams.ledgerstore import LedgerStore, service_of_key
from streams.messages import Outgoing
from streams.probestage import ProbeStage

log = logging.getLogger(__name__)

#: bytes fetched per partition and request (aiokafka's default is 1 MiB)
FETCH_BYTES = 4 << 20
#: records unpacked, and probes folded, between two returns to the event loop.
#: aiokafka unpacks fetched records in Python as ``getmany`` hands them over,
#: about 10 us each, and folding costs as much again: a batch of 10,000 taken
#: in one step held the loop for over 100 ms on a loaded machine.
STEP = 1000


def ledger_topic(app_id: str, partitions: int = topics.PROBES.partitions) -> topics.TopicSpec:
    """The compacted changelog of the probe ledgers (one partition per probe partition)."""
    return topics.TopicSpec(
        f"{app_id}-probe-ledgers-changelog",
        "service|YYYY-MM|region|DD[|HH[|MM]]",
        partitions,
        {"cleanup.policy": "compact"},
        "changelog of the worker's probe ledgers (partition = the service's probe partition)",
    )


def service_partition(service: str | bytes, partitions: int) -> int:
    """The probe partition of ``service``: what the producers' key partitioner picks."""
    key = service.encode() if isinstance(service, str) else service
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


class Sources(Sequence[dict[str, Any]]):
    """Where each record of a batch came from, built only for the few that need it.

    ``sources[i]`` is ``{"topic", "partition", "offset"}`` of the batch's
    i-th record (dead letters and the audit trail name it).
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._starts: list[int] = []
        self._partitions: list[int] = []
        self._offsets: list[int] = []

    def add(self, partition: int, offsets: list[int]) -> None:
        """The next records of the batch: ``offsets`` of ``partition``, in order."""
        self._starts.append(len(self._offsets))
        self._partitions.append(partition)
        self._offsets.extend(offsets)

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        offset = self._offsets[i]  # IndexError past the end, as a sequence must
        if i < 0:
            i += len(self._offsets)
        segment = bisect_right(self._starts, i) - 1
        return {"topic": self.topic, "partition": self._partitions[segment], "offset": offset}


@dataclass(frozen=True, slots=True)
class Received:
    """One input record as the audit trail keeps it."""

    raw: bytes
    timestamp: float | None
    source: dict[str, Any]


Audit = Callable[[list[Received], list[Outgoing]], Awaitable[None]]


class ProbeLoop:
    """Consume ``availability.probes`` in a consumer group of its own and fold it."""

    def __init__(
        self,
        bootstrap: str,
        app_id: str,
        security: KafkaSecurity | None = None,
        settings: Settings | None = None,
        batch_size: int = 10000,
        poll_ms: int = 100,
        checkpoint_interval: float = 2.0,
        publish_interval: float = 0.5,
        audit: Audit | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self.bootstrap = bootstrap
        #: the set-up clients give up on a broker that does not answer after this long
        self.start_timeout = start_timeout
        self.app_id = app_id
        self.group_id = f"{app_id}-probes"
        self.security = security or KafkaSecurity()
        self.batch_size = batch_size
        self.poll_ms = poll_ms
        self.checkpoint_interval = checkpoint_interval
        #: minute states of a service-month go out at most this often (and at every
        #: checkpoint): one message for many batches when probes arrive fast
        self.publish_interval = publish_interval
        self._last_publish = 0.0
        self.audit = audit
        self.partitions = topics.PROBES.partitions
        self.store = LedgerStore()
        self.stage = ProbeStage(self.store, settings, owner=self.owns)
        #: probe partitions this worker folds
        self.assigned: set[int] = set()
        #: next offset to commit per probe partition (processed, not yet committed)
        self._positions: dict[int, int] = {}
        self._lock = asyncio.Lock()
        self._last_checkpoint = 0.0
        self.consumer: Any = None
        self.producer: Any = None
        #: monotonic time the current batch started, and its step (for /health)
        self.busy: tuple[float, str] | None = None
        self.last_input = 0.0
        self.last_event_unixtime: float | None = None
        self.batches = 0
        self.checkpoints = 0
        self.restored_keys = 0
        self.failures = 0
        #: deliveries of outputs sent since the last checkpoint began
        self._inflight: list[Any] = []
        #: the checkpoint waiting for Kafka's acknowledgements before it commits
        self._committing: asyncio.Future[None] | None = None
        #: probe partitions whose ledgers are in memory
        self._held: set[int] = set()
        #: end offset of each changelog partition after this worker's last write or restore
        self._changelog_end: dict[int, int] = {}
        #: ``starting`` (never ran yet), ``running`` (its clients are up and it
        #: folds), ``restarting`` (a run failed; waiting to start again) or
        #: ``stopped`` (its task was cancelled)
        self.state = "starting"
        #: the failure that ended the last run (None while it runs)
        self.last_error: str | None = None

    @property
    def changelog(self) -> str:
        return ledger_topic(self.app_id).name

    def owns(self, service: str) -> bool:
        return service_partition(service, self.partitions) in self.assigned

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

    async def _checkpoint_and_wait(self, when: str) -> None:
        """A whole checkpoint, committed; a failure is logged (the lock is held by the caller).

        After a failure the events since the last commit are read again by
        whoever owns the partitions next (this worker, or another one).
        """
        try:
            await self._checkpoint()
            await self._settle()
        except asyncio.CancelledError as exc:
            if cancelling():
                raise
            log.warning("probe checkpoint %s failed: %s", when, describe_failure(exc))
        except Exception as exc:
            log.warning("probe checkpoint %s failed: %s", when, describe_failure(exc))

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

    # -- batches -----------------------------------------------------------------

    async def _fetch(self) -> dict[Any, list[Any]]:
        """Up to ``batch_size`` records: what the consumer has, :data:`STEP` at a time.

        The first call waits up to ``poll_ms`` for records; the loop runs
        between steps, and the steps stop as soon as one comes back short
        (nothing more was at hand).
        """
        step = min(STEP, self.batch_size)
        batch: dict[Any, list[Any]] = await self.consumer.getmany(
            timeout_ms=self.poll_ms, max_records=step
        )
        got = sum(len(v) for v in batch.values())
        while got and got % step == 0 and got < self.batch_size:
            await asyncio.sleep(0)
            more = await self.consumer.getmany(
                timeout_ms=0, max_records=min(step, self.batch_size - got)
            )
            n = sum(len(v) for v in more.values())
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
            got += n
            if n < step:
                break
        return batch

    async def _process(self, batch: dict[Any, list[Any]]) -> None:
        """Fold one batch :data:`STEP` probes at a time, then send and audit it whole."""
        loop = asyncio.get_running_loop()
        self.busy = (loop.time(), "fold")
        slices: list[tuple[list[bytes], Sources]] = []
        audit = self.audit is not None
        stamps: list[int | None] = []
        raws_all: list[bytes] = []
        for tp, records in batch.items():
            if tp.partition not in self.assigned or not records:
                continue  # revoked while the batch was in flight: its next owner reads it
            i = 0
            while i < len(records):
                if not slices or len(slices[-1][1]) >= STEP:
                    slices.append(([], Sources(topics.PROBES.name)))
                values, sources = slices[-1]
                part = records[i : i + STEP - len(sources)]
                i += len(part)
                got = [r.value for r in part]
                if None in got:  # a tombstone is not an event: dead-lettered as empty
                    got = [v if v is not None else b"" for v in got]
                values.extend(got)
                sources.add(tp.partition, [r.offset for r in part])
                if audit:
                    raws_all.extend(got)
                    stamps.extend(r.timestamp for r in part)
            self._positions[tp.partition] = records[-1].offset + 1
        if not slices:
            self.busy = None
            return
        self.last_input = loop.time()
        self.last_event_unixtime = time.time()
        out: list[Outgoing] = []
        for n, (raws, sources) in enumerate(slices):
            if n:
                await asyncio.sleep(0)
            out.extend(self.stage.process(raws, sources, publish=False))  # states: see run()
        self.busy = (self.busy[0], "send")
        await self._send(out)
        if self.audit is not None:
            self.busy = (self.busy[0], "audit")
            every = [src for _, sources in slices for src in sources[:]]
            received = [
                Received(raw, ts / 1000 if ts is not None and ts > 0 else None, src)
                for raw, ts, src in zip(raws_all, stamps, every, strict=True)
            ]
            await self.audit(received, out)
        self.batches += 1
        self.busy = None

    async def _publish(self) -> list[Outgoing]:
        """The changed minute states, one service-month per loop step."""
        self._last_publish = time.monotonic()
        out: list[Outgoing] = []
        for n, msg in enumerate(self.stage.publish_steps()):
            if n:
                await asyncio.sleep(0)
            if msg is not None:
                out.append(msg)
        return out

    async def _send(self, msgs: list[Outgoing]) -> None:
        """Hand ``msgs`` to the producer; their delivery is awaited by the next checkpoint."""
        for m in msgs:
            partition = (
                service_partition(m.key, self.partitions) if m.topic == topics.PROBES.name else None
            )
            self._inflight.append(
                await self.producer.send(m.topic, m.value, key=m.key, partition=partition)
            )

    async def _checkpoint(self) -> None:
        """Start a checkpoint: outputs and ledgers sent now, offsets committed once delivered.

        The previous checkpoint is finished first, so commits stay in order;
        folding goes on while Kafka acknowledges (``acks=all``) this one.
        """
        await self._settle()
        self._last_checkpoint = time.monotonic()
        await self._send(await self._publish())  # the states of what the offsets cover
        for _ in self.stage.save_steps():
            await asyncio.sleep(0)
        changed = self.store.changed()
        writes = [await self._write(key, value) for key, value in changed if value is not None]
        deleted = [key for key, value in changed if value is None]
        outputs, self._inflight = self._inflight, []
        offsets = dict(self._positions)
        self._positions.clear()
        finish = self._finish(outputs, writes, [k for k, _ in changed], deleted, offsets)
        self._committing = asyncio.get_running_loop().create_task(finish)

    async def _write(self, key: str, value: bytes | None) -> Any:
        """Send one changelog record (None: a tombstone); its delivery future."""
        part = service_partition(service_of_key(key), self.partitions)
        return await self.producer.send(self.changelog, value, key=key.encode(), partition=part)

    async def _finish(
        self,
        outputs: list[Any],
        writes: list[Any],
        keys: list[str],
        deleted: list[str],
        offsets: dict[int, int],
    ) -> None:
        """Wait for the checkpoint's records, then commit its offsets.

        The tombstones of values replaced by finer ones are sent only once
        every value is acknowledged: a value the broker refuses (one over its
        message size) must leave the value it replaces in the changelog,
        never a gap that no redelivery would fill.
        """
        try:
            self._delivered(await asyncio.gather(*writes))
            self._delivered(await asyncio.gather(*[await self._write(k, None) for k in deleted]))
        except BaseException:
            self.store.unsaved(keys)  # written again by the next checkpoint
            raise
        await asyncio.gather(*outputs)
        if offsets:
            from aiokafka import TopicPartition

            await self.consumer.commit(
                {TopicPartition(topics.PROBES.name, p): o for p, o in offsets.items()}
            )
        self.checkpoints += 1

    def _delivered(self, metas: list[Any]) -> None:
        for meta in metas:
            end = self._changelog_end.get(meta.partition, 0)
            self._changelog_end[meta.partition] = max(end, meta.offset + 1)

    async def _settle(self) -> None:
        """Wait for the checkpoint in flight (its failure is raised here)."""
        task, self._committing = self._committing, None
        if task is not None:
            await task

    # -- rebalances --------------------------------------------------------------

    async def revoked(self, partitions: set[int]) -> None:
        async with self._lock:
            await self._checkpoint_and_wait("at a rebalance")
            self._positions.clear()  # what a failed checkpoint left is not ours to commit
            self.stage.reset()
            log.info("probe partitions revoked: %s", sorted(partitions))

    async def assigned_to(self, partitions: set[int]) -> None:
        """Keep the ledgers of partitions still held whose changelog nobody else wrote.

        A partition's ledgers in memory are trusted only when the changelog
        partition ends where this worker's own last write (or restore) left
        it; anything else (new partitions, or partitions another worker wrote
        while this one was out of the group) is restored from the changelog.
        """
        async with self._lock:
            self.assigned = set(partitions)
            self.store.forget(self.owns)
            reader = await self._reader()
            try:
                tps = {p: self._changelog_tp(p) for p in partitions}
                ends = await reader.end_offsets(list(tps.values())) if tps else {}
                stale = {
                    p
                    for p in partitions
                    if p not in self._held or self._changelog_end.get(p) != ends[tps[p]]
                }
                if stale:
                    self.store.forget(
                        lambda service: service_partition(service, self.partitions) not in stale
                    )
                    await self._restore(reader, stale, {p: ends[tps[p]] for p in stale})
            finally:
                await reader.stop()
            self._held = set(partitions)
            self.stage.reset()
            log.info(
                "probe partitions assigned: %s (restored from the changelog: %s)",
                sorted(partitions),
                sorted(stale),
            )

    def _changelog_tp(self, partition: int) -> Any:
        from aiokafka import TopicPartition

        return TopicPartition(self.changelog, partition)

    async def _reader(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            client_id=f"{self.app_id}-probes-restore",
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 << 20,
            **self.security.aiokafka(),
        )
        await reader.start()
        return reader

    async def _restore(self, reader: Any, partitions: set[int], ends: dict[int, int]) -> None:
        """Read the changelog partitions ``partitions`` up to ``ends`` into the store."""
        tps = [self._changelog_tp(p) for p in sorted(partitions)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        todo = {tp for tp in tps if ends[tp.partition] > 0}
        while todo:
            got = await reader.getmany(*todo, timeout_ms=500, max_records=10000)
            for records in got.values():
                for r in records:
                    if r.key is None:
                        continue
                    # a key this pipeline never writes (not UTF-8) is skipped like
                    # any other unreadable key: it must not stop the restore
                    key = bytes(r.key).decode("utf-8", errors="replace")
                    if self.store.load(key, r.value):
                        self.restored_keys += 1
            for tp in list(todo):
                if await reader.position(tp) >= ends[tp.partition]:
                    todo.discard(tp)
        for p in partitions:
            self._changelog_end[p] = ends[p]


def cancelling() -> bool:
    """Whether the running task was asked to stop (not a ``CancelledError`` from elsewhere)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def failure_of(work: Awaitable[object]) -> BaseException | None:
    """Await ``work``; what it raised, or None when it returned.

    The running task's own cancellation is raised, not returned: a
    ``CancelledError`` from anywhere else (aiokafka raises them from tasks of
    its own) is a failure like any other, for the caller to retry.
    """
    try:
        await work
    except asyncio.CancelledError as exc:
        if cancelling():
            raise
        return exc
    except Exception as exc:
        return exc
    return None


def describe_failure(exc: BaseException) -> str:
    """One line naming a failure (a bare ``CancelledError`` says where it came from)."""
    if isinstance(exc, asyncio.CancelledError):
        return "CancelledError raised inside the Kafka client"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """aiokafka rebalance callbacks -> :class:`ProbeLoop`."""

    def __init__(self, loop: ProbeLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.loop.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.loop.assigned_to({tp.partition for tp in assigned})
