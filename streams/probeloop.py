"""The probe stage's own Kafka loop: probes -> ledgers -> minute states, in large batches.

Why not a Faust agent: Faust hands a stream's events to its agent one
message at a time through its conductor and stream machinery; on this
project's benchmark an agent folding batches of 10,000 received about 4,000
probes per second while the fold itself ran at over 250,000 per second. This
loop takes the records straight from an aiokafka consumer with ``getmany``
(thousands per call), folds them with :class:`streams.pipeline.ProbeStage`,
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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener
from kafka.partitioner.default import murmur2

from sla.book import Settings
from streams import topics
from streams.kafkaconf import KafkaSecurity
from streams.pipeline import Outgoing, ProbeStage

log = logging.getLogger(__name__)


def ledger_topic(app_id: str, partitions: int = topics.PROBES.partitions) -> topics.TopicSpec:
    """The compacted changelog of the probe ledgers (one partition per probe partition)."""
    return topics.TopicSpec(
        f"{app_id}-probe-ledgers-changelog",
        "service|YYYY-MM|region",
        partitions,
        {"cleanup.policy": "compact"},
        "changelog of the worker's probe ledgers (partition = the service's probe partition)",
    )


def service_partition(service: str | bytes, partitions: int) -> int:
    """The probe partition of ``service``: what the producers' key partitioner picks."""
    key = service.encode() if isinstance(service, str) else service
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def _service_of(key: str) -> str:
    return key.split("|", 1)[0]


class LedgerStore(MutableMapping[str, bytes]):
    """``service|YYYY-MM|region -> bytes`` in memory, with the keys changed since the last save.

    Keys are indexed by their ``service|YYYY-MM|`` prefix, so loading one
    service-month does not scan every key.
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._by_prefix: dict[str, set[str]] = {}
        self._dirty: set[str] = set()

    @staticmethod
    def _prefix(key: str) -> str:
        return key[: key.rindex("|") + 1]

    def __getitem__(self, key: str) -> bytes:
        return self._data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.load(key, value)
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        self.load(key, None)
        self._dirty.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def load(self, key: str, value: bytes | None) -> None:
        """Set (or, with None, delete) a key without marking it changed (a restore)."""
        prefix = self._prefix(key)
        if value is None:
            if self._data.pop(key, None) is not None:
                keys = self._by_prefix[prefix]
                keys.discard(key)
                if not keys:
                    del self._by_prefix[prefix]
            return
        self._data[key] = value
        self._by_prefix.setdefault(prefix, set()).add(key)

    def with_prefix(self, prefix: str) -> list[str]:
        """The keys of one ``service|YYYY-MM|``."""
        return sorted(self._by_prefix.get(prefix, ()))

    def changed(self) -> list[tuple[str, bytes | None]]:
        """Every key changed since the last call, with its value (None: deleted)."""
        out = [(k, self._data.get(k)) for k in sorted(self._dirty)]
        self._dirty.clear()
        return out

    def unsaved(self, keys: Iterable[str]) -> None:
        """Mark ``keys`` changed again (their write did not reach Kafka)."""
        self._dirty.update(keys)

    def forget(self, keep: Callable[[str], bool]) -> int:
        """Drop (without marking changed) every key whose service ``keep`` rejects."""
        gone = [k for k in self._data if not keep(_service_of(k))]
        for k in gone:
            self.load(k, None)
            self._dirty.discard(k)
        return len(gone)


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
        audit: Audit | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.app_id = app_id
        self.group_id = f"{app_id}-probes"
        self.security = security or KafkaSecurity()
        self.batch_size = batch_size
        self.poll_ms = poll_ms
        self.checkpoint_interval = checkpoint_interval
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
        self.ready = asyncio.Event()
        #: probe partitions whose ledgers are in memory
        self._held: set[int] = set()
        #: end offset of each changelog partition after this worker's last write or restore
        self._changelog_end: dict[int, int] = {}

    @property
    def changelog(self) -> str:
        return ledger_topic(self.app_id).name

    def owns(self, service: str) -> bool:
        return service_partition(service, self.partitions) in self.assigned

    # -- life cycle --------------------------------------------------------------

    def _prepare(self) -> int:
        """Blocking: the probe topic's partition count; create the changelog if missing."""
        from kafka import KafkaConsumer

        probe = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.app_id}-probes-setup",
            **self.security.kafka_python(),
        )
        try:
            found = probe.partitions_for_topic(topics.PROBES.name)
        finally:
            probe.close()
        n = len(found) if found else topics.PROBES.partitions
        topics.ensure_topics(
            self.bootstrap, specs=[ledger_topic(self.app_id, n)], **self.security.kafka_python()
        )
        return n

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        loop = asyncio.get_running_loop()
        self.partitions = await loop.run_in_executor(None, self._prepare)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.app_id}-probes",
            acks="all",
            linger_ms=5,
            max_batch_size=1 << 20,
            max_request_size=8 << 20,
            **self.security.aiokafka(),
        )
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id=f"{self.app_id}-probes",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=15000,
            heartbeat_interval_ms=3000,
            max_partition_fetch_bytes=4 << 20,
            **self.security.aiokafka(),
        )
        await self.consumer.start()
        self.consumer.subscribe([topics.PROBES.name], listener=_Listener(self))

    async def run(self) -> None:
        """Start, fold batches until cancelled, then checkpoint and leave the group."""
        await self.start()
        try:
            while True:
                batch = await self.consumer.getmany(
                    timeout_ms=self.poll_ms, max_records=self.batch_size
                )
                async with self._lock:
                    if batch:
                        await self._process(batch)
                    if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval:
                        await self._checkpoint()
        finally:
            await self._close()

    async def _close(self) -> None:
        try:
            if self.consumer is not None and self.assigned:
                async with self._lock:
                    await self._checkpoint()
        except Exception as exc:  # leaving anyway: the next owner replays from the last commit
            log.warning("final probe checkpoint failed: %s", exc)
        for client in (self.consumer, self.producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception as exc:
                    log.warning("closing a probe-loop Kafka client: %s", exc)

    # -- batches -----------------------------------------------------------------

    async def _process(self, batch: dict[Any, list[Any]]) -> None:
        loop = asyncio.get_running_loop()
        self.busy = (loop.time(), "fold")
        raws: list[bytes] = []
        sources: list[dict[str, Any]] = []
        received: list[Received] = []
        audit = self.audit is not None
        for tp, records in batch.items():
            if tp.partition not in self.assigned or not records:
                continue  # revoked while the batch was in flight: its next owner reads it
            topic, partition = tp.topic, tp.partition
            for r in records:
                raw = r.value if r.value is not None else b""
                src = {"topic": topic, "partition": partition, "offset": r.offset}
                raws.append(raw)
                sources.append(src)
                if audit:
                    ts = r.timestamp / 1000 if r.timestamp is not None and r.timestamp > 0 else None
                    received.append(Received(raw, ts, src))
            self._positions[partition] = records[-1].offset + 1
        if not raws:
            self.busy = None
            return
        self.last_input = loop.time()
        self.last_event_unixtime = time.time()
        out = self.stage.process(raws, sources)
        self.busy = (self.busy[0], "send")
        await self._send(out)
        if self.audit is not None:
            self.busy = (self.busy[0], "audit")
            await self.audit(received, out)
        self.batches += 1
        self.busy = None

    async def _send(self, msgs: list[Outgoing]) -> None:
        futures = [
            await self.producer.send(
                m.topic,
                m.value,
                key=m.key,
                partition=(
                    service_partition(m.key, self.partitions)
                    if m.topic == topics.PROBES.name
                    else None
                ),
            )
            for m in msgs
        ]
        if futures:
            await asyncio.gather(*futures)

    async def _checkpoint(self) -> None:
        """Ledgers to the changelog (acknowledged), then the input offsets committed."""
        self._last_checkpoint = time.monotonic()
        self.stage.save()
        changed = self.store.changed()
        try:
            futures = [
                await self.producer.send(
                    self.changelog,
                    value,
                    key=key.encode(),
                    partition=service_partition(_service_of(key), self.partitions),
                )
                for key, value in changed
            ]
            for meta in await asyncio.gather(*futures):
                end = self._changelog_end.get(meta.partition, 0)
                self._changelog_end[meta.partition] = max(end, meta.offset + 1)
        except BaseException:
            self.store.unsaved(key for key, _ in changed)  # written again next time
            raise
        if self._positions:
            from aiokafka import TopicPartition

            offsets = {TopicPartition(topics.PROBES.name, p): o for p, o in self._positions.items()}
            await self.consumer.commit(offsets)
            self._positions.clear()
        self.checkpoints += 1

    # -- rebalances --------------------------------------------------------------

    async def revoked(self, partitions: set[int]) -> None:
        async with self._lock:
            try:
                await self._checkpoint()
            except Exception as exc:
                # expelled from the group, or Kafka failing: the events after the last
                # commit are read again by whoever owns the partitions next
                log.warning("probe checkpoint at a rebalance failed: %s", exc)
            self._positions.clear()
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
            self.ready.set()
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
                    if r.key is not None:
                        self.store.load(bytes(r.key).decode(), r.value)
                        self.restored_keys += 1
            for tp in list(todo):
                if await reader.position(tp) >= ends[tp.partition]:
                    todo.discard(tp)
        for p in partitions:
            self._changelog_end[p] = ends[p]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """aiokafka rebalance callbacks -> :class:`ProbeLoop`."""

    def __init__(self, loop: ProbeLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.loop.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.loop.assigned_to({tp.partition for tp in assigned})
