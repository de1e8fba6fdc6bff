"""The probe loop's rebalances: checkpoint on revocation, restore the ledgers from the changelog."""

from __future__ import annotations

import logging
from typing import Any

from streams.probecheckpoint import ProbeCheckpoints
from streams.probestate import service_partition

#: the probe loop logs under one name, whichever of its modules speaks
log = logging.getLogger("streams.probeloop")


class ProbeRebalances(ProbeCheckpoints):
    """The probe loop's side of a rebalance, and the changelog restore it starts."""

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
