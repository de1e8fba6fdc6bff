"""The probe loop's checkpoints: outputs delivered, ledgers written, offsets committed."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from streams import topics
from streams.failures import cancelling, describe_failure
from streams.ledgerstore import service_of_key
from streams.probebatch import ProbeBatches
from streams.probestate import service_partition

#: the probe loop logs under one name, whichever of its modules speaks
log = logging.getLogger("streams.probeloop")


class ProbeCheckpoints(ProbeBatches):
    """Checkpoint the probe loop: deliveries awaited, then the input offsets committed."""

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
