"""Writing to the store: the audit trail and the published outputs.

:class:`SinkWriting` is the first layer of :class:`streams.app.Worker`: it
holds the worker's configuration and its store writer (none without a
store DSN); every write waits until the rows are in the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sla.timeutil import END_INSTANT, FIRST_INSTANT
from streams import topics
from streams.messages import Outgoing
from streams.probestate import Received
from streams.workerconfig import WorkerConfig

#: one logger for every layer of the worker: its log lines are all ``streams.app``'s
log = logging.getLogger("streams.app")


_FIRST_STAMP, _END_STAMP = FIRST_INSTANT.timestamp(), END_INSTANT.timestamp()


def received_at(stamp: float | None, clock: Callable[[], datetime]) -> datetime:
    """When an event was received: its Kafka timestamp (seconds), else the reader's clock.

    The clock when the message has no timestamp, or one outside the instants
    an event may carry (``[1970, 2200)``): a producer sets the timestamp, and
    the broker takes one in year 10000, which no ``datetime`` holds.
    """
    if stamp and _FIRST_STAMP <= stamp < _END_STAMP:
        return datetime.fromtimestamp(stamp, UTC)
    return clock()


class SinkWriting:
    """The worker's configuration and its writes to the store."""

    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        #: the store (a ``sinks.writer.StoreWriter``), None without one
        self.sink: Any = None
        self._sink_errors = 0
        self._rows_written = 0
        if cfg.store_dsn:
            from sinks.writer import StoreWriter

            def store_failed(exc: BaseException) -> None:
                del exc
                self._sink_errors += 1

            # no I/O here: the writer connects and migrates on its own thread at the
            # first write, so a store that is down at start-up is backpressure too
            self.sink = StoreWriter(cfg.store_dsn, on_failure=store_failed)

    async def _audit(self, events: list[Received], produced: list[Outgoing]) -> None:
        """With a store: the received events (with Kafka lineage) and the dead letters.

        Returns once they are written (the store pauses this call while it is
        unavailable), and the callers acknowledge a batch only after it, so
        the audit trail never misses an event whose offset was committed.
        """
        if self.sink is None or not events:
            return
        from sinks.lineage import RawEvent

        dead_keys = {m.key for m in produced if m.topic == topics.DEAD_LETTERS.name}
        rows = []
        letters = [json.loads(m.value) for m in produced if m.topic == topics.DEAD_LETTERS.name]
        for e in events:
            src = e.source
            if f"{src['topic']}|{src['partition']}|{src['offset']}".encode() in dead_keys:
                continue
            rows.append(RawEvent(e.raw, received_at(e.timestamp, self.cfg.clock), src))
        if rows or letters:
            await self._write(lambda sink: sink.write_audit(rows, letters))

    async def _store(self, outputs: list[dict[str, Any]]) -> None:
        """With a store: write ``outputs``; returns once they are written."""
        await self._write(lambda sink: sink.write_outputs(outputs))

    async def _write(self, write: Callable[[Any], Awaitable[int]]) -> None:
        """Await ``write(writer)`` on the store writer, if there is a store.

        The writer runs every store call on a thread of its own with bounded
        timeouts, and it neither raises a store error nor returns before the
        rows are written: it pauses and retries with a capped backoff (see
        ``sinks.writer``), so the stage that called waits here, its offsets
        uncommitted, while the event loop goes on.

        Cancelled while it waits (the worker is stopping with rows not
        written), the process exits at once with status 75, as a kill would:
        Faust acknowledges the batch of an agent that ends, however it ends,
        and commits on the way out, and the probe loop checkpoints, so a
        graceful stop would commit offsets whose rows were never written.
        Everything after the last commit is read again at the next start.
        """
        if self.sink is None:
            return
        try:
            self._rows_written += await write(self.sink)
        except asyncio.CancelledError:
            log.error(
                "stopping while the store has rows not written (%s): exiting without "
                "committing; they are read again at the next start",
                self.sink.store_error or "store call in progress",
            )
            logging.shutdown()
            os._exit(75)
