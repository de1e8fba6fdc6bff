"""The probe loop's batches: fetched :data:`~streams.probestate.STEP` records at a time."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, overload

from streams import topics
from streams.messages import Outgoing
from streams.probestate import STEP, ProbeLoopState, Received, service_partition


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


class ProbeBatches(ProbeLoopState):
    """Fetch, fold, send and audit the probe loop's batches; publish the minute states."""

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
