"""The probe loop's settings, counters and partitioning: what each of its parts reads.

:class:`ProbeLoopState` holds what every part of the loop reads (its
clients, its store and stage, the partitions it owns, the offsets and
deliveries of the checkpoint under way); the parts that act on it are
:mod:`streams.probebatch` (fetch, fold, send), :mod:`streams.probecheckpoint`
(changelog writes and commits), :mod:`streams.proberestore` (rebalances) and
:mod:`streams.probeloop` (start, run, stop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kafka.partitioner.default import murmur2

from sla.book import Settings
from streams import topics
from streams.kafkaconf import KafkaSecurity
from streams.ledgerstore import LedgerStore
from streams.messages import Outgoing
from streams.probestage import ProbeStage

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


@dataclass(frozen=True, slots=True)
class Received:
    """One input record as the audit trail keeps it."""

    raw: bytes
    timestamp: float | None
    source: dict[str, Any]


Audit = Callable[[list[Received], list[Outgoing]], Awaitable[None]]


class ProbeLoopState:
    """The probe loop's settings, clients, store, stage and counters (no steps of its own)."""

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
