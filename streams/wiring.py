"""The worker's Faust app, its topics and tables, its stages and who owns what.

:class:`WorkerWiring` builds what every other layer of
:class:`streams.app.Worker` stands on: the Faust app (:func:`faust_app`),
the topics, the statement stage's tables and, per statement partition, its
table views and stage; the probe loop, the dead-letter tally and the event
loop's gauges. It also answers which partitions this worker owns now.
"""

from __future__ import annotations

import gc
from typing import Any

import faust

from streams import router, topics
from streams.apiauth import check_api_exposure
from streams.deadletters import DeadLetterTally
from streams.fetchguard import refetch_dropped, seek_uncommitted
from streams.kafkaconf import KafkaSecurity
from streams.looplag import GcPauses, LoopLag
from streams.probeloop import ProbeLoop
from streams.sinkwrites import SinkWriting
from streams.statementstage import StatementStage
from streams.tablestore import TableStore
from streams.workerconfig import WorkerConfig


def faust_app(cfg: WorkerConfig) -> faust.App:
    """The worker's Faust app: raw bytes everywhere, memory tables, its web server."""
    # the canonical URL is "http://{host}:{port}": an IPv6 literal needs brackets
    url_host = f"[{cfg.web_host}]" if ":" in cfg.web_host else cfg.web_host
    return faust.App(
        cfg.app_id,
        broker=f"kafka://{cfg.bootstrap}",
        broker_credentials=_credentials(cfg.security),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_replication_factor=1,
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # outputs, forwarded inputs and table changelogs go out in large batches
        # (see topics.PRODUCER_BATCH_BYTES)
        producer_max_batch_size=topics.PRODUCER_BATCH_BYTES,
        web_enabled=cfg.web_enabled,
        web_host=url_host,
        web_bind=cfg.web_host,
        web_port=cfg.web_port,
        autodiscover=False,
        stream_wait_empty=False,
        # a worker killed outright is replaced after this, not the 60 s default
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
    )


def _credentials(security: KafkaSecurity) -> Any:
    """Faust's ``broker_credentials`` for ``security`` (None for plaintext)."""
    if security.protocol == "PLAINTEXT":
        return None
    if not security.sasl:
        return faust.SSLCredentials(security.ssl_context())
    return faust.SASLCredentials(
        username=security.username,
        password=security.password,
        mechanism=security.mechanism,
        ssl_context=security.ssl_context(),
    )


def raw_topic(app: faust.App, name: str, partitions: int | None = None) -> Any:
    """A topic of ``app`` whose keys and values are raw bytes."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


class WorkerWiring(SinkWriting):
    """The app, its topics and tables, the stages and the ownership of partitions."""

    def __init__(self, cfg: WorkerConfig) -> None:
        if cfg.web_enabled:
            check_api_exposure(cfg.web_host, cfg.api_token)
        super().__init__(cfg)
        self.app = faust_app(cfg)
        app = self.app
        # what Faust fetches for a partition paused meanwhile is fetched again, not lost
        refetch_dropped(app.consumer)
        # and Faust's seek to committed offsets also seeks partitions that have none
        seek_uncommitted(app.consumer)
        self.topics = {spec.name: raw_topic(app, spec.name, spec.partitions) for spec in topics.ALL}
        #: the statement stage's input topic: one partition per share of the contracts
        self.statement_inputs = router.statement_inputs_topic(cfg.app_id)
        self.topics[self.statement_inputs.name] = raw_topic(
            app, self.statement_inputs.name, self.statement_inputs.partitions
        )
        # the stage's state, one changelog partition per statement partition (the
        # tables are co-partitioned with the statement inputs, so a partition's
        # state moves with it); keys carry their partition, because a worker's
        # local copy holds the partitions it is standby for too
        self._tables = tuple(
            app.tables.add(
                faust.Table(
                    app=app,
                    name=name,
                    default=None,
                    key_type=bytes,
                    value_type=bytes,
                    partitions=self.statement_inputs.partitions,
                )
            )
            for name in ("stage2-events", "stage2-emitted")
        )
        #: per statement partition: its table views (kept once made: they hold the
        #: changelog writes not yet acknowledged), and its stage while this worker owns it
        self._stores: dict[int, tuple[TableStore, TableStore]] = {}
        self.stages: dict[int, StatementStage] = {}
        #: outputs published per statement partition since start
        self.published: dict[int, int] = {}
        self.probes = ProbeLoop(
            cfg.bootstrap,
            cfg.app_id,
            cfg.security,
            cfg.settings,
            batch_size=cfg.batch_size,
            audit=self._audit if cfg.store_dsn else None,
            publish_interval=cfg.states_interval,
        )
        self.stage1 = self.probes.stage
        self.dead_letter_tally = DeadLetterTally(cfg.bootstrap, cfg.security)
        self.loop_lag = LoopLag()
        self.gc_pauses = GcPauses()
        gc.callbacks.append(self.gc_pauses)

    def _assignment(self) -> list[str]:
        probes = [f"{topics.PROBES.name}:{p}" for p in self.probes.assigned]
        try:
            assignment = self.app.consumer.assignment()
        except Exception:
            return sorted(probes)
        return sorted([*probes, *(f"{tp.topic}:{tp.partition}" for tp in assignment)])

    def _owned(self) -> list[int]:
        """The statement partitions assigned to this worker."""
        try:
            assignment = self.app.consumer.assignment()
        except Exception:
            return []
        name = self.statement_inputs.name
        return sorted(tp.partition for tp in assignment if tp.topic == name)

    def _owns_stage2(self) -> bool:
        return bool(self._owned())

    def _owns_router(self) -> bool:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:
            return False
        routed = {spec.name for spec in router.ROUTED}
        return any(tp.topic in routed for tp in assignment)

    def _stage(self, partition: int) -> StatementStage:
        """The statement stage of ``partition`` (made, empty and not ready, on first use)."""
        stage = self.stages.get(partition)
        if stage is None:
            stores = self._stores.get(partition)
            if stores is None:
                events_table, emitted_table = self._tables
                stores = self._stores[partition] = (
                    TableStore(events_table, partition),
                    TableStore(emitted_table, partition),
                )
            stage = self.stages[partition] = StatementStage(
                stores[0],
                stores[1],
                self.cfg.settings,
                primary=partition == router.PRIMARY,
                partition=partition,
            )
        return stage

    def _sync_stages(self) -> list[tuple[int, StatementStage]]:
        """The stages of the partitions this worker owns now (the others are dropped)."""
        owned = self._owned()
        for p in [p for p in self.stages if p not in owned]:
            del self.stages[p]
        return [(p, self._stage(p)) for p in owned]
