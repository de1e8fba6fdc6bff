"""Dead letters by reason, counted from the dead-letter topic itself.

A worker's own counters start again at zero whenever it restarts, and each
worker counts only what it rejected. The topic holds every dead letter the
deployment ever wrote, so :class:`DeadLetterTally` reads it from the
beginning and follows it: its counts survive restarts and are the same on
every worker. A dead letter written twice (a batch read again after a crash
or a broker outage) has the same key, the source of the rejected record
(``topic|partition|offset``), and counts once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from streams import topics
from streams.failures import describe_failure, failure_of
from streams.kafkaconf import KafkaSecurity

log = logging.getLogger(__name__)


class DeadLetterTally:
    """Follow ``availability.dead-letters`` from its start; count each source once, by reason."""

    def __init__(self, bootstrap: str, security: KafkaSecurity | None = None) -> None:
        self.bootstrap = bootstrap
        self.security = security or KafkaSecurity()
        self.by_reason: dict[str, int] = {}
        self._seen: set[bytes] = set()
        #: next offset to read per partition (kept across restarts of the consumer)
        self._next: dict[int, int] = {}

    def counts(self) -> dict[str, int]:
        """Dead letters by reason read so far (a copy)."""
        return dict(self.by_reason)

    def add(self, key: bytes | None, value: bytes | None) -> None:
        """Count one message of the topic (again under a key already seen: nothing)."""
        if value is None:
            return
        if key is not None:
            if key in self._seen:
                return
            self._seen.add(key)
        try:
            reason = str(json.loads(value).get("reason") or "unknown")
        except (ValueError, AttributeError, RecursionError):
            reason = "unknown"
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1

    async def run_forever(self, max_delay: float = 10.0) -> None:
        """Read and follow the topic; a failure starts the consumer again after a pause."""
        delay = 1.0
        while True:
            failure = await failure_of(self._run()) or RuntimeError("the reader returned")
            log.warning(
                "dead-letter count: %s; reading on in %.0f s", describe_failure(failure), delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)

    async def _run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer: Any = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            client_id="availability-dead-letter-count",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.security.aiokafka(),
        )
        await consumer.start()
        try:
            name = topics.DEAD_LETTERS.name
            parts = consumer.partitions_for_topic(name) or {0}
            tps = [TopicPartition(name, p) for p in sorted(parts)]
            consumer.assign(tps)
            for tp in tps:
                if tp.partition in self._next:
                    consumer.seek(tp, self._next[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for tp, records in batch.items():
                    for r in records:
                        self.add(r.key, r.value)
                    if records:
                        self._next[tp.partition] = records[-1].offset + 1
        finally:
            try:
                await asyncio.wait_for(consumer.stop(), 10)
            except Exception as exc:
                log.debug("closing the dead-letter count's consumer: %s", exc)
