"""The Faust application factory: agents, tables, timers and web views.

No module-level app: :func:`create_app` builds one from a
:class:`WorkerConfig`. Two stages, each one at a time and at least once;
idempotency comes from the core (sets, not counters):

* the probe loop (:mod:`streams.probeloop`, a task of the app with a consumer
  group of its own, ``<app-id>-probes``) reads ``availability.probes`` in
  large batches (partitioned by service) and publishes per service-month
  minute states; Faust's per-message stream delivery was its bottleneck;
* the ``router`` agent reads minute states, incidents, contracts, claims and
  tickets (one partition each) and forwards them to the statement
  partitions (:mod:`streams.router`: by contract, minute states and
  incidents to all);
* the ``statements`` agent folds each statement partition it owns in a stage
  of its own and emits statements, records, claim decisions and support
  verdicts when they change; a timer re-evaluates them so months become
  final and open incidents grow even when nothing arrives.

Everything a batch produces is sent before its events are acknowledged, and
Faust flushes the producer (table changelogs included) before it commits
offsets, so a crash can only lead to reprocessing, which changes nothing.

Faults. No exception leaves the statements agent (Faust would acknowledge
its batch: ``stream_ack_exceptions``): a batch that cannot be delivered is
tried again with a growing pause until it is, and a tombstone is
dead-lettered. The worker is *degraded* (``/health`` answers 503, the gauge
``availability_worker_degraded`` is 1 for the reason) while a stage is not
running or the input lag cannot be measured, and *caught up* only when it is
not degraded and a fresh measurement finds every input partition read to its
end. Final statements and claim decisions are published only while caught
up, so none is ever computed from a partial backlog (SPEC section 7).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from schemas.codec import Rejected
from sinks.secrets import read_secret
from sla.book import Settings
from streams import logfilter, router, topics
from streams.deadletters import DeadLetterTally
from streams.kafkaconf import KafkaSecurity
from streams.looplag import GcPauses, LoopLag
from streams.messages import Outgoing, dead_letter_message
from streams.probeloop import ProbeLoop, Received, cancelling, describe_failure, failure_of
from streams.statementstage import StatementStage

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


#: outputs published (sent, then stored, then confirmed) together: one wait for
#: the broker and one for the store per group, not per slice
PUBLISH_GROUP = 500
#: outputs sent or confirmed between two returns to the event loop
PUBLISH_SLICE = 100


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class WorkerConfig:
    """How one worker runs."""

    bootstrap: str
    app_id: str = "availability"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    web_enabled: bool = True
    #: a probe batch costs about the same to fold into state whatever its size
    #: (every touched service-month's minute states are recomputed and written
    #: once per batch), so batches are large; ``batch_wait`` bounds the latency
    batch_size: int = 10000
    batch_wait: float = 0.5
    #: the statement stage's inputs (minute states, contracts, incidents, claims,
    #: tickets) are folded within this long of arriving: a failing minute's
    #: states reach the statements without waiting for a batch to fill
    stage2_batch_wait: float = 0.1
    #: how often the statement stage looks for work; it recomputes only when an
    #: input changed it (or at ``refresh_interval``), so looking often is cheap
    emit_interval: float = 0.25
    #: the probe loop publishes changed minute states this often
    states_interval: float = 0.25
    #: a recomputation waits until no input was folded for this long (a new
    #: minute's states come in a few messages): at most ``inputs_max_wait``
    inputs_quiet: float = 0.3
    inputs_max_wait: float = 1.0
    refresh_interval: float = 30.0
    settle_seconds: float = 5.0
    #: a lag measurement that takes longer fails (the broker does not answer)
    lag_timeout: float = 10.0
    #: the last lag measurement counts this long; after that the lag is unknown
    lag_max_age: float = 15.0
    #: an input partition with lag whose committed offset has not moved this
    #: long, while no batch is in hand, is read again from that offset
    stall_seconds: float = 30.0
    settings: Settings = field(default_factory=Settings)
    clock: Clock = system_clock
    #: hidden from ``repr``: a server DSN can hold a password
    store_dsn: str | None = field(default=None, repr=False)
    data_dir: str | None = None
    #: bearer token the HTTP API asks for on every page but /health and /metrics
    #: (``AVAILABILITY_API_TOKEN_FILE`` or ``AVAILABILITY_API_TOKEN``); required
    #: when the API listens beyond loopback
    api_token: str | None = field(
        default_factory=lambda: api_token_from_env(os.environ), repr=False
    )
    #: TLS / SASL settings of every Kafka client (``KAFKA_*`` environment variables)
    security: KafkaSecurity = field(default_factory=KafkaSecurity.from_env)


def api_token_from_env(env: Mapping[str, str]) -> str | None:
    """The HTTP API token (``AVAILABILITY_API_TOKEN_FILE`` or ``AVAILABILITY_API_TOKEN``)."""
    return read_secret("AVAILABILITY_API_TOKEN", env)


#: the dead-letter detail of a null value on an input topic
TOMBSTONE = "a null value (tombstone) is not an event"
#: the pages that answer without the API token (probes and scrapers)
OPEN_PAGES = frozenset({"/health", "/metrics"})


def check_api_exposure(host: str, token: str | None) -> None:
    """Refuse (ValueError) an HTTP API beyond loopback without a token."""
    if not token and not _is_loopback(host):
        raise ValueError(
            f"the HTTP API would listen on {host} without a token: set "
            "AVAILABILITY_API_TOKEN_FILE (or bind it to 127.0.0.1)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Worker:
    """One worker's app, stages and outputs (the web views read the stages' ``latest``)."""

    def __init__(self, cfg: WorkerConfig) -> None:
        if cfg.web_enabled:
            check_api_exposure(cfg.web_host, cfg.api_token)
        self.cfg = cfg
        # the canonical URL is "http://{host}:{port}": an IPv6 literal needs brackets
        url_host = f"[{cfg.web_host}]" if ":" in cfg.web_host else cfg.web_host
        self.app = faust.App(
            cfg.app_id,
            broker=f"kafka://{cfg.bootstrap}",
            broker_credentials=cfg.security.faust_credentials(),
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
        app = self.app
        self.topics = {
            spec.name: app.topic(
                spec.name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=spec.partitions,
            )
            for spec in topics.ALL
        }
        #: the statement stage's input topic: one partition per share of the contracts
        self.statement_inputs = router.statement_inputs_topic(cfg.app_id)
        self.topics[self.statement_inputs.name] = app.topic(
            self.statement_inputs.name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.statement_inputs.partitions,
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
        self._stores: dict[int, tuple[_TableStore, _TableStore]] = {}
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
        self._emit_lock = asyncio.Lock()
        #: held while the statement stage folds (on the loop) or recomputes (on its
        #: thread): the book is never read and changed at once
        self._stage_lock = asyncio.Lock()
        #: the statement stage's recomputation runs here, off the event loop
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statements")
        self.loop_lag = LoopLag()
        self.gc_pauses = GcPauses()
        gc.callbacks.append(self.gc_pauses)
        #: agent -> [monotonic start, step] of the batch it is working on
        self._busy: dict[str, list[Any]] = {}
        self._stuck_reported: set[tuple[str, float]] = set()
        #: committed offset per input partition (from the lag measurement)
        self._committed: dict[tuple[str, int], int] = {}
        #: (committed offset, since) of partitions with lag, to find stalls
        self._stalled_since: dict[tuple[str, int], tuple[int, float]] = {}
        self.reseeks = 0
        #: (recovered offset, since) of table changelogs being recovered
        self._recovery_since: dict[tuple[str, int], tuple[int, float]] = {}
        #: the next instant a ticket becomes at risk or breached (re-evaluate then)
        self._next_due: datetime | None = None
        #: the store (a ``sinks.writer.StoreWriter``), None without one
        self.sink: Any = None
        #: how the last emit cycle that recomputed went (see ``_emit``), for /health
        self.last_cycle: dict[str, Any] = {}
        #: wall seconds spent publishing outputs since start, by step: sending them
        #: and waiting for the broker, storing them, confirming them (the record of
        #: what was published, in the changelog)
        self.publish_phases = {"send": 0.0, "store": 0.0, "confirm": 0.0}
        self.dead_letters: dict[str, int] = {}
        self._last_emit = 0.0
        #: when the statements agent last folded a batch, and the first fold not
        #: yet recomputed (see ``WorkerConfig.inputs_quiet``)
        self._last_fold = 0.0
        self._dirty_since: float | None = None
        self._last_refresh = 0.0
        #: consumer-group lag per (topic, partition) over every input topic
        self.lag: dict[tuple[str, int], int] = {}
        #: monotonic time of the last successful lag measurement, and why the last one failed
        self._lag_at: float | None = None
        self._lag_error: str | None = "not measured yet"
        #: the measurement running on its thread, and when it started
        self._lag_job: tuple[asyncio.Future[dict[tuple[str, int], int]], float] | None = None
        #: why the statement stage cannot go on (a batch or an emit failing), None while it can
        #: per batch consumer ("statement stage", "router"): why its batch fails
        self._batch_errors: dict[str, str | None] = {}
        #: per statement partition, when its outputs next change with no new event
        self._due: dict[int, datetime | None] = {}
        self._emit_error: str | None = None
        self.stage2_failures = 0
        self._last_input = 0.0
        self._lag_clients: tuple[Any, Any] | None = None
        self._last_event_unixtime: float | None = None
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
        from prometheus_client import CollectorRegistry

        from sinks.metrics import AvailabilityCollector

        self.registry = CollectorRegistry()
        self.registry.register(AvailabilityCollector(self, cfg.clock))
        # an instance attribute shadows Faust's no-op hook: it runs as the web server starts
        self.app.on_webserver_init = self._on_webserver_init  # type: ignore[method-assign]
        self._register()

    # -- wiring ------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        routed_in = app.topic(
            *(spec.name for spec in router.ROUTED),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        stage2_in = self.topics[self.statement_inputs.name]

        @app.task  # type: ignore[untyped-decorator]  # faust's task decorator is untyped
        async def probe_loop() -> None:
            # What start-up allocated (Faust, the models, the tables) lives as long
            # as the worker: out of the collector's sight, a batch's records cost
            # less to collect (measured: bench/bench_stream.py, docs/decisions.md).
            gc.freeze()
            gc.set_threshold(20000, 10, 10)
            # logging is configured by now: the Kafka clients' retries log once per 30 s
            logfilter.install()
            await self.probes.run_forever()

        @app.task  # type: ignore[untyped-decorator]  # faust's task decorator is untyped
        async def count_dead_letters() -> None:
            await self.dead_letter_tally.run_forever()

        @app.task  # type: ignore[untyped-decorator]  # faust's task decorator is untyped
        async def event_loop_lag() -> None:
            # The statement stage's thread holds the GIL while it recomputes. The loop
            # gives it up at every socket write and read, thousands a second, and
            # each time waits the switch interval to get it back: 0.1 ms, not the
            # default 5 ms, or the loop spends its time waiting (measured with
            # py-spy at 10,000 contracts: a fifth of the loop thread's samples).
            sys.setswitchinterval(0.0001)
            await self.loop_lag.run()

        @app.agent(routed_in, name="router", concurrency=1)
        async def route(stream: Any) -> None:
            async for events in stream.take_events(self.cfg.batch_size, self.cfg.batch_wait):
                await self._route_batch(events)

        @app.agent(stage2_in, name="statements", concurrency=1)
        async def statements(stream: Any) -> None:
            async for events in stream.take_events(self.cfg.batch_size, self.cfg.stage2_batch_wait):
                await self._statements_batch(events)

        @app.timer(interval=self.cfg.emit_interval)  # type: ignore[untyped-decorator]  # faust
        async def refresh() -> None:
            if not self._owns_stage2() or self.app.in_recovery:
                return
            if self._emit_lock.locked():
                return  # a recomputation is running on its thread: the next tick looks again
            loop = asyncio.get_running_loop()
            force = loop.time() - self._last_refresh >= self.cfg.refresh_interval
            due = self._next_due
            if due is not None and self.cfg.clock() >= due:
                force = True  # a ticket's at-risk moment or deadline has passed
            if force:
                self._last_refresh = loop.time()
            try:
                await self._emit(force=force)
            except asyncio.CancelledError as exc:
                if cancelling():
                    raise
                self._emit_failed(exc)
            except Exception as exc:  # a timer that raises stops the whole worker
                self._emit_failed(exc)

        @app.timer(interval=2.0)  # type: ignore[untyped-decorator]  # faust's timer is untyped
        async def measure_lag() -> None:
            loop = asyncio.get_running_loop()
            try:
                await self._measure_lag()
                self._watchdog(loop.time())
                await self._heal_stalled(loop.time())
            except asyncio.CancelledError:
                if cancelling():
                    raise
                log.warning("consumer lag check cancelled inside the Kafka client")
            except Exception as exc:  # a timer that raises stops the whole worker
                log.warning("consumer lag check failed: %s", describe_failure(exc))

        def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            del sender, args, signal, kwargs
            for stage in self.stages.values():
                stage.reset()

        app.on_partitions_revoked.connect(on_revoked)

        @app.page("/health")
        async def health(web: Any, request: Any) -> Any:
            del request
            loop = asyncio.get_running_loop()
            degraded = self.degraded()
            return web.json(
                {
                    "status": "degraded" if degraded else "ok",
                    "degraded": degraded,
                    "owns_statements": self._owns_stage2(),
                    "statement_partitions": self._owned(),
                    "assignment": self._assignment(),
                    "statements_ready": bool(self.stages)
                    and all(st.ready for st in self.stages.values()),
                    "caught_up": self.caught_up,
                    "lag": sum(self.lag.values()) if self._lag_fresh() else None,
                    "lagging": {f"{t}:{p}": n for (t, p), n in self.lag.items() if n > 0},
                    "pending_outputs": sum(len(st._pending) for st in self.stages.values()),
                    # published and not yet stored and recorded (send, store, confirm)
                    "unconfirmed_outputs": sum(len(st._unconfirmed) for st in self.stages.values()),
                    "reseeks": self.reseeks,
                    "busy": {
                        agent: {"step": step, "seconds": round(loop.time() - since, 1)}
                        for agent, (since, step) in self._busy_now().items()
                    },
                    "probes": {
                        "group": self.probes.group_id,
                        "batches": self.probes.batches,
                        "checkpoints": self.probes.checkpoints,
                        "restored_keys": self.probes.restored_keys,
                        "failures": self.probes.failures,
                        "state": self.probes.state,
                    },
                    "statements": {
                        "failures": self.stage2_failures,
                        # wall seconds per partition: recompute (on its thread), then publish
                        "last_cycle": self.last_cycle,
                        "publish_seconds": {k: round(v, 3) for k, v in self.publish_phases.items()},
                        "published_by_partition": {
                            str(p): n for p, n in sorted(self.published.items())
                        },
                    },
                    "event_loop": {
                        **self.loop_lag.recent(),
                        "max_since_start_seconds": round(self.loop_lag.max_ever, 4),
                        # a collection holds the interpreter lock, so the loop waits as long
                        "gc": self.gc_pauses.recent(),
                    },
                },
                status=503 if degraded else 200,
            )

        @app.page("/statements/{contract_id}/{month}")
        async def statement(web: Any, request: Any, contract_id: str, month: str) -> Any:
            if not self._authorized(request):
                return _unauthorized(web)
            found = self._latest(f"{contract_id}|{month}".encode())
            if found is None or found.get("kind") != "contract_month":
                return web.json({"error": "no such statement on this worker"}, status=404)
            return web.json(found)

        @app.page("/services/{service}/{month}")
        async def service_month(web: Any, request: Any, service: str, month: str) -> Any:
            if not self._authorized(request):
                return _unauthorized(web)
            found = self._latest(f"{service}|{month}".encode())
            if found is None or found.get("kind") != "service_month":
                return web.json({"error": "no such record on this worker"}, status=404)
            return web.json(found)

        @app.page("/claims/{contract_id}")
        async def claims(web: Any, request: Any, contract_id: str) -> Any:
            if not self._authorized(request):
                return _unauthorized(web)
            found = [
                o
                for o in self._all_latest()
                if o.get("kind") == "claim_decision" and o.get("contract_id") == contract_id
            ]
            return web.json({"claims": sorted(found, key=lambda o: str(o["claim_id"]))})

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            del request
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            body = generate_latest(self.registry)
            return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

        @app.page("/dead-letters")
        async def dead_letters(web: Any, request: Any) -> Any:
            if not self._authorized(request):
                return _unauthorized(web)
            # from the topic: every worker's, and not reset when a worker restarts
            return web.json({"dead_letters": self.dead_letter_tally.counts()})

    def _watchdog(self, now: float) -> None:
        """Log, once per batch, an agent stuck on one batch for over a minute, with every stack."""
        for agent, (since, step) in self._busy_now().items():
            if now - since < 60 or (agent, since) in self._stuck_reported:
                continue
            self._stuck_reported.add((agent, since))
            stacks = []
            for task in asyncio.all_tasks():
                frames = task.get_stack(limit=8)
                where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
                stacks.append(f"  {task.get_name()}: {where}")
            log.warning(
                "agent %s has been on one batch for %.0f s (step: %s); tasks:\n%s",
                agent,
                now - since,
                step,
                "\n".join(stacks),
            )

    def _busy_now(self) -> dict[str, tuple[float, str]]:
        """What each stage is working on: name -> (monotonic start, step)."""
        busy = {agent: (float(since), str(step)) for agent, (since, step) in self._busy.items()}
        if self.probes.busy is not None:
            busy["probes"] = self.probes.busy
        return busy

    async def _heal_stalled(self, now: float) -> None:
        """Re-read a partition whose committed offset is stuck behind its end.

        Faust drops records that a fetch returns for a partition which is not
        active at that moment (a rebalance or a table recovery in between)
        while the fetch position has already moved past them: those events
        are never delivered, and the offset commit stops at the gap. A
        partition of ours with lag whose committed offset has not moved for
        ``stall_seconds`` while no batch is in hand is sought back to its
        committed offset; the stages are idempotent, so what was already
        folded is folded again without effect, and the missing events arrive.
        """
        if self.app.in_recovery:
            await self._heal_recovery(now)
            return
        if self._busy:
            return
        try:
            mine = {(tp.topic, tp.partition) for tp in self.app.consumer.assignment()}
        except Exception:
            return
        for key, behind in list(self.lag.items()):
            committed = self._committed.get(key)
            stuck = self._stuck_for(
                self._stalled_since, key, committed if key in mine and behind > 0 else None, now
            )
            if stuck is None or committed is None:
                continue
            topic, partition = key
            log.warning(
                "%s:%d has been stuck at committed offset %d with %d events behind for "
                "%.0f s; reading it again from there",
                topic,
                partition,
                committed,
                behind,
                stuck,
            )
            from faust.types import TP

            await self.app.consumer.seek(TP(topic, partition), committed)
            self.reseeks += 1

    async def _heal_recovery(self, now: float) -> None:
        """Re-read a table changelog whose recovery receives nothing.

        The same defect as above hits Faust's table recovery: a changelog
        partition's records fetched before it was resumed are dropped, and
        recovery then waits for them for ever ("No event received for active
        tp ... since recovery start"). A partition still short of its
        highwater whose recovered offset has not moved for ``stall_seconds``
        is sought back to the next offset it needs.
        """
        try:
            tables: Any = self.app.tables
            recovery = tables.recovery
            remaining = dict(recovery.active_remaining())
            offsets = dict(recovery.active_offsets)
        except Exception:
            return
        for tp, left in remaining.items():
            have = offsets.get(tp)
            key = (tp.topic, tp.partition)
            stuck = self._stuck_for(self._recovery_since, key, have if left > 0 else None, now)
            if stuck is None or have is None:
                continue
            log.warning(
                "table recovery of %s:%d has received nothing for %.0f s (%d changes "
                "left); reading it again from offset %d",
                tp.topic,
                tp.partition,
                stuck,
                left,
                have + 1,
            )
            await self.app.consumer.seek(tp, max(0, have + 1))
            self.reseeks += 1

    def _stuck_for(
        self,
        seen: dict[tuple[str, int], tuple[int, float]],
        key: tuple[str, int],
        offset: int | None,
        now: float,
    ) -> float | None:
        """Seconds ``key`` has stayed at ``offset``, once that reaches ``stall_seconds``.

        ``offset`` None means nothing is owed there (forget it). When the
        answer is not None the clock starts again, so a partition that stays
        stuck is sought again only after another ``stall_seconds``.
        """
        if offset is None:
            seen.pop(key, None)
            return None
        last = seen.get(key)
        if last is None or last[0] != offset:
            seen[key] = (offset, now)
            return None
        if now - last[1] < self.cfg.stall_seconds:
            return None
        seen[key] = (offset, now)
        return now - last[1]

    def _authorized(self, request: Any) -> bool:
        token = self.cfg.api_token
        if not token:
            return True
        given = str(request.headers.get("Authorization", ""))
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    # -- the PipelineState the metrics collector reads at scrape time ------------

    def _all_latest(self) -> list[dict[str, Any]]:
        """The latest output of every key of the statement partitions this worker owns."""
        return [o for st in list(self.stages.values()) for o in list(st.latest.values())]

    def _latest(self, key: bytes) -> dict[str, Any] | None:
        for st in list(self.stages.values()):
            found = st.latest.get(key)
            if found is not None:
                return found
        return None

    def statements(self) -> list[dict[str, Any]]:
        return [o for o in self._all_latest() if o["kind"] == "contract_month"]

    def service_months(self) -> list[dict[str, Any]]:
        return [o for o in self._all_latest() if o["kind"] == "service_month"]

    def support_outputs(self) -> list[dict[str, Any]]:
        return [o for o in self._all_latest() if o["kind"] == "ticket_verdict"]

    def pipeline(self) -> Any:
        from sinks.metrics import PipelineStats

        events: dict[str, int] = {}
        dead: dict[str, int] = {}
        stages = list(self.stages.values())
        for stats, primary in (
            (self.stage1.folder.stats, True),
            *((st.folder.stats, st.primary) for st in stages),
        ):
            for k, n in stats.events.items():
                # a broadcast input is folded by every statement partition: counted once
                if primary or k in ("contract", "claim"):
                    events[k] = events.get(k, 0) + n
            for k, n in stats.dead_letters.items():
                dead[k] = dead.get(k, 0) + n
        sink = self.sink.stats if self.sink is not None else None
        return PipelineStats(
            events_by_type=events,
            dead_letters_by_reason=dead,
            sink_errors={"clickhouse": self._sink_errors},
            sink_rows_written={"outputs": self._rows_written},
            sink_retries={"clickhouse": sink.retries if sink else 0},
            sink_batches={"clickhouse": sink.batches_written if sink else 0},
            sink_insert_seconds={"clickhouse": sink.insert_seconds_total if sink else 0.0},
            consumer_lag=dict(self.lag) if self._lag_fresh() else {},
            degraded=frozenset(self.degraded()),
            loop_lag_buckets=self.loop_lag.buckets() if self.loop_lag.count else (),
            loop_lag_sum=self.loop_lag.total,
            unreadable_state=(
                self.stage1.stats.unreadable_state
                + self.stage1.store.unreadable
                + sum(st.folder.stats.unreadable_state for st in stages)
            ),
            last_event_unixtime=max(
                (t for t in (self._last_event_unixtime, self.probes.last_event_unixtime) if t),
                default=None,
            ),
        )

    async def _measure_lag(self) -> None:
        """Measure the lag on a thread, bounded by ``lag_timeout``; record success or failure.

        A measurement still running after ``lag_timeout`` is abandoned with
        its clients (new ones are made for the next), so a broker that never
        answers cannot hold the lag at its last value.
        """
        loop = asyncio.get_running_loop()
        if self._lag_job is None:
            self._lag_job = (loop.run_in_executor(None, self._group_lag), loop.time())
        job, since = self._lag_job
        try:
            lag = await asyncio.wait_for(
                asyncio.shield(job), max(0.1, self.cfg.lag_timeout - (loop.time() - since))
            )
        except TimeoutError:
            self._lag_job = None
            self._lag_failed(f"no answer within {self.cfg.lag_timeout:.0f} s", abandon=True)
            return
        except Exception as exc:
            self._lag_job = None
            self._lag_failed(describe_failure(exc), abandon=False)
            return
        self._lag_job = None
        self.lag = lag
        self._lag_at = loop.time()
        if self._lag_error is not None:
            log.info("consumer lag measured again (%d behind)", sum(lag.values()))
        self._lag_error = None

    def _lag_failed(self, why: str, abandon: bool) -> None:
        if self._lag_error is None or self._lag_error == "not measured yet":
            log.warning("cannot measure the consumer lag: %s", why)
        self._lag_error = why
        clients, self._lag_clients = self._lag_clients, None
        if clients is not None and not abandon:
            for client in clients:
                try:
                    client.close()
                except Exception as exc:  # closing a broken client: nothing more to do
                    log.debug("closing a lag client: %s", exc)

    def _lag_fresh(self) -> bool:
        """Whether the last lag measurement succeeded and is recent enough to trust."""
        at = self._lag_at
        if at is None or self._lag_error is not None:
            return False
        return asyncio.get_running_loop().time() - at <= self.cfg.lag_max_age

    def degraded(self) -> dict[str, str]:
        """Why the worker cannot do its job now: reason -> detail (empty: it can).

        The reasons are ``sinks.metrics.DEGRADED_REASONS``.
        """
        found: dict[str, str] = {}
        if self.probes.state != "running":
            found["probe_stage_down"] = f"the probe loop is {self.probes.state}" + (
                f" after: {self.probes.last_error}" if self.probes.last_error else ""
            )
        stage2 = (
            self._batch_errors.get("statement stage")
            or self._batch_errors.get("router")
            or self._emit_error
        )
        if stage2 is not None:
            found["statement_stage_down"] = stage2
        if self.sink is not None and not self.sink.store_ok:
            found["store_unavailable"] = f"the store cannot be written: {self.sink.store_error}"
        if not self._lag_fresh():
            found["inputs_unreachable"] = (
                f"the input lag cannot be measured: {self._lag_error}"
                if self._lag_error is not None
                else f"no lag measurement for over {self.cfg.lag_max_age:.0f} s"
            )
        return found

    @property
    def caught_up(self) -> bool:
        """Every input partition read to its end, by a fresh measurement, with every stage up.

        Final statements and claim decisions are held while this is false.
        """
        return not self.degraded() and bool(self.lag) and all(v <= 0 for v in self.lag.values())

    async def _route_batch(self, events: list[Any]) -> None:
        """Forward one batch of the stage's public inputs to their statement partitions.

        Never raises, like :meth:`_statements_batch`: the batch is acknowledged
        (so its offsets may be committed) only once every forwarded message is
        in Kafka; a failure is tried again after a pause growing to 10 s, until
        it goes through or the inputs have moved to another worker. Sending
        again is harmless: the stage folds sets and versioned states.
        """
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()
        self._busy["router"] = [loop.time(), "forward"]
        n = self.statement_inputs.partitions
        sends: list[tuple[int, Any, bytes | None, float | None, list[tuple[str, bytes]]]] = []
        for e in events:
            msg = e.message
            value = None if e.value is None else bytes(e.value)
            headers = router.source_headers(msg.topic, msg.partition, msg.offset)
            for p in router.targets(msg.topic, value, n):
                sends.append((p, e.key, value, msg.timestamp or None, headers))
        topic = self.statement_inputs.name
        send = self.app.producer.send

        async def forward() -> None:
            futures = [await send(topic, k, v, p, t, h) for p, k, v, t, h in sends]
            await self.app.producer.flush()
            for fut in futures:
                await fut

        try:
            await self._until_done(
                "router",
                forward,
                lambda why: f"a batch of {len(events)} inputs could not be forwarded: {why}",
                self._owns_router,
            )
        finally:
            self._busy.pop("router", None)

    async def _statements_batch(self, events: list[Any]) -> None:
        """Fold, deliver, audit and emit one batch of the statements agent; never raises.

        Faust acknowledges the events of an agent that raised, which would
        lose the batch, so a failure (the broker gone, a changelog write not
        acknowledged, a fold bug) is logged and the same batch is tried again
        after a pause growing to 10 s, until it is done or its partitions have
        moved to another worker (which reads them again from the committed
        offsets). Folding again is harmless: the stage is a fold over sets. A
        tombstone (null value) is dead-lettered, never folded. Each event is
        folded by the stage of its statement partition.
        """
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()
        busy = self._busy["statements"] = [loop.time(), "fold"]
        items: dict[int, list[tuple[str, bytes, dict[str, Any]]]] = {}
        tombstones: dict[int, list[dict[str, Any]]] = {}
        received: list[Received] = []
        for e in events:
            p = e.message.partition
            src = router.source_of(e.message.headers) or _source(e)
            if e.value is None:
                tombstones.setdefault(p, []).append(src)
                continue
            raw = bytes(e.value)
            topic = src["topic"]
            items.setdefault(p, []).append((topic, raw, src))
            # audited once: a broadcast input by the primary partition only
            if topic != topics.MINUTE_STATES.name and (
                p == router.PRIMARY or topic not in router.BROADCAST
            ):
                received.append(Received(raw, e.message.timestamp or None, src))
        out: list[Outgoing] | None = None

        async def attempt() -> None:
            nonlocal out
            if out is None:
                busy[1] = "fold"
                folded: list[Outgoing] = []
                async with self._stage_lock:
                    for p in sorted(set(items) | set(tombstones)):
                        stage = self._stage(p)
                        folded.extend(stage.process(items.get(p, [])))
                        # after process(), whose first call builds the folder
                        rej = Rejected("invalid_json", TOMBSTONE, b"")
                        folded.extend(
                            dead_letter_message(stage.folder.reject(rej, src))
                            for src in tombstones.get(p, [])
                        )
                        await asyncio.sleep(0)  # one partition's fold at a time
                out = folded
                self._last_fold = loop.time()
                if self._dirty_since is None:
                    self._dirty_since = self._last_fold
            busy[1] = "send"
            await self._send(out)
            busy[1] = "table changelogs"
            await self._tables_delivered()
            busy[1] = "audit"
            await self._audit(received, out)
            busy[1] = "emit"
            if not self._emit_lock.locked():
                # else the cycle running takes the stages this batch changed in
                # its next round (``_emit``): waiting for it here would hold
                # the next batch, a failing minute's states, until it ends
                await self._emit(force=False)

        try:
            await self._until_done(
                "statement stage",
                attempt,
                lambda why: f"a batch of {len(events)} events failed at {busy[1]}: {why}",
                self._owns_stage2,
            )
        finally:
            self._busy.pop("statements", None)

    async def _until_done(
        self,
        who: str,
        attempt: Callable[[], Awaitable[None]],
        failed: Callable[[str], str],
        owns: Callable[[], bool],
    ) -> None:
        """Run ``attempt`` until it goes through, or until ``owns()`` says the batch moved away.

        Never raises but for this task's own cancellation. A failure is
        counted, shown as the reason the statement stage is down
        (``failed(why)``), logged, and tried again after a pause growing from
        0.5 s to 10 s; a batch whose partitions moved to another worker is
        left to it (it reads them again from the committed offsets).
        """
        delay = 0.5
        while True:
            failure = await failure_of(attempt())
            if failure is None:
                if self._batch_errors.get(who) is not None:
                    log.info("%s: the batch went through after all", who)
                self._batch_errors[who] = None
                return
            self.stage2_failures += 1
            error = self._batch_errors[who] = failed(describe_failure(failure))
            log.error("%s: %s; trying it again in %.1f s", who, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            if not owns():
                log.warning("%s: its partitions moved away; the batch is theirs", who)
                self._batch_errors[who] = None
                return

    def _emit_failed(self, exc: BaseException) -> None:
        first = self._emit_error is None
        self._emit_error = f"outputs cannot be published: {describe_failure(exc)}"
        if first:
            log.error("statement stage: %s (tried again every second)", self._emit_error)

    def _on_webserver_init(self, web: Any) -> None:
        """Every page but ``/health`` and ``/metrics`` asks for the token, Faust's own too.

        Faust registers its views (``/``, ``/router/``, ``/table/``) itself;
        one aiohttp middleware guards them and the project's pages alike.
        """
        from aiohttp import web as aioweb

        @aioweb.middleware
        async def token_required(request: Any, handler: Any) -> Any:
            if request.path in OPEN_PAGES or self._authorized(request):
                return await handler(request)
            return aioweb.json_response(
                {"error": "this page needs the API token: Authorization: Bearer <token>"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )

        web.web_app.middlewares.append(token_required)

    def _group_lag(self) -> dict[tuple[str, int], int]:
        """End offset minus the group's committed offset, for every input partition.

        Blocking (kafka-python); run it in an executor.
        """
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

        if self._lag_clients is None:
            self._lag_clients = (
                KafkaAdminClient(
                    bootstrap_servers=self.cfg.bootstrap,
                    client_id="availability-lag",
                    request_timeout_ms=int(self.cfg.lag_timeout * 1000),
                    bootstrap_timeout_ms=int(self.cfg.lag_timeout * 1000),
                    **self.cfg.security.kafka_python(),
                ),
                KafkaConsumer(
                    bootstrap_servers=self.cfg.bootstrap,
                    group_id=None,
                    enable_auto_commit=False,
                    client_id="availability-lag",
                    request_timeout_ms=int(self.cfg.lag_timeout * 1000),
                    bootstrap_timeout_ms=int(self.cfg.lag_timeout * 1000),
                    **self.cfg.security.kafka_python(),
                ),
            )
        admin, consumer = self._lag_clients
        inputs = (
            topics.PROBES,
            topics.MINUTE_STATES,
            topics.INCIDENTS,
            topics.CONTRACTS,
            topics.CLAIMS,
            topics.TICKETS,
        )
        tps: list[Any] = []
        for spec in (*inputs, self.statement_inputs):
            found = consumer.partitions_for_topic(spec.name)
            if not found:
                # unknown is not empty: a topic left out would count as read to its end
                raise RuntimeError(f"no partitions known yet for {spec.name}")
            tps.extend(TopicPartition(spec.name, p) for p in sorted(found))
        # the statement stage's group (Faust) and the probe loop's, one request each;
        # committed offsets before end offsets: the minute states a probe commit
        # covers were delivered before that commit, so they are inside the ends
        # read after it (ends read first could miss them and report lag 0)
        group = self.cfg.app_id
        committed = dict(admin.list_group_offsets({group: None}).get(group, {}))
        group = self.probes.group_id
        for tp, meta in admin.list_group_offsets({group: None}).get(group, {}).items():
            if tp.topic == topics.PROBES.name:
                committed[tp] = meta
        ends = consumer.end_offsets(tps)
        lag = {}
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[(tp.topic, tp.partition)] = max(0, int(ends.get(tp, 0)) - done)
            self._committed[(tp.topic, tp.partition)] = done
        return lag

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
                    _TableStore(events_table, partition),
                    _TableStore(emitted_table, partition),
                )
            stage = self.stages[partition] = StatementStage(
                stores[0], stores[1], self.cfg.settings, primary=partition == router.PRIMARY
            )
        return stage

    def _sync_stages(self) -> list[tuple[int, StatementStage]]:
        """The stages of the partitions this worker owns now (the others are dropped)."""
        owned = self._owned()
        for p in [p for p in self.stages if p not in owned]:
            del self.stages[p]
        return [(p, self._stage(p)) for p in owned]

    async def _send(self, msgs: list[Outgoing]) -> list[Any]:
        """Enqueue ``msgs``; the futures of their delivery.

        Faust flushes the producer before it commits an agent's offsets, so a
        batch need not wait for them; a publication from the timer does.
        """
        # straight to the producer: Faust's topic layer (its future message, sensors
        # and callbacks) doubled the loop's cost of a send; the partition is the
        # same, chosen by the producer's partitioner from the key
        send = self.app.producer.send
        return [await send(m.topic, m.key, m.value, None, None, None) for m in msgs]

    async def _tables_delivered(self) -> None:
        """Every table write so far is in Kafka (before the batch is acknowledged)."""
        for stores in list(self._stores.values()):
            for store in stores:
                await store.delivered()

    async def _emit(self, force: bool) -> None:
        # the agent and the timer both emit; one at a time, so the record of
        # what was published is confirmed in the order it was published
        async with self._emit_lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if not force and now - self._last_emit < self.cfg.emit_interval:
                return
            since = self._dirty_since
            if (
                not force
                and since is not None
                and now - self._last_fold < self.cfg.inputs_quiet
                and now - since < self.cfg.inputs_max_wait
            ):
                return  # more of this change is on its way: one pass for all of it
            self._dirty_since = None
            self._last_emit = start = loop.time()
            stages = self._sync_stages()
            cycle: dict[str, Any] = {"pass1": [], "pass2": []}
            # the real changes of every partition first, then what only its coverage
            # tick moved: a failing minute's statements never queue behind the
            # coverage of another partition's fifth of the book
            first = [(p, st, force or st.dirty or not st.ready, True) for p, st in stages]
            recomputed = await self._pass(first, force, cycle["pass1"])
            # Inputs folded meanwhile (a partition recomputed early in the pass missed
            # the states that arrived after it: a failing service's, a minute begun)
            # go before the coverage too, for at most two more rounds.
            for _ in range(2):
                again = [(p, st, True, True) for p, st in stages if st.dirty]
                if not again:
                    break
                recomputed |= await self._pass(again, False, cycle["pass1"])
            second = [(p, st, True, False) for p, st in stages if p in recomputed and st.deferred]
            await self._pass(second, True, cycle["pass2"])
            if recomputed:
                cycle["seconds"] = round(loop.time() - start, 3)
                cycle["forced"] = force
                self.last_cycle = cycle
            for p in [p for p in self._due if p not in self.stages]:
                del self._due[p]
            self._next_due = min((d for d in self._due.values() if d is not None), default=None)
            self._emit_error = None

    async def _pass(
        self,
        steps: list[tuple[int, StatementStage, bool, bool]],
        force: bool,
        timings: list[dict[str, Any]],
    ) -> set[int]:
        """Recompute and publish each partition in turn; the partitions recomputed.

        ``steps``: (partition, stage, recompute?, defer?). With ``defer``,
        statements whose coverage tick alone moved are left for a second pass
        (``stage.deferred``), which :meth:`_emit` runs after the first pass of
        every partition. A partition's outputs are published after its own
        recomputation, and meanwhile the next partition recomputes on the stage
        thread: the publication waits on the broker, the recomputation on the
        CPU, and neither waits for the other.
        """
        loop = asyncio.get_running_loop()
        recomputed: set[int] = set()

        def start(i: int) -> asyncio.Future[float] | None:
            if i >= len(steps) or not steps[i][2]:
                return None
            _, stage, _, defer = steps[i]
            if not stage.ready:
                stage.rebuild()  # reads the tables: on the loop, once per assignment
            return asyncio.ensure_future(self._recompute(stage, force, defer))

        ahead = start(0)
        try:
            for i, (partition, stage, recompute, defer) in enumerate(steps):
                current, ahead = ahead, None
                took = 0.0
                if current is not None:
                    took = await current
                    recomputed.add(partition)
                    if defer:
                        self._due[partition] = stage.next_due(self.cfg.clock())
                ahead = start(i + 1)
                t0 = loop.time()
                n = await self._publish_ready(partition, stage)
                if recompute:
                    timings.append(_timing(partition, took, loop.time() - t0, n))
        finally:
            if ahead is not None:
                # a publication failed while the next partition recomputed: that one's
                # outputs wait (``stage.dirty`` is cleared) and go out with the next cycle
                ahead.add_done_callback(_recompute_done)
        return recomputed

    async def _recompute(self, stage: StatementStage, force: bool, defer: bool) -> float:
        """:meth:`StatementStage.refresh` on the stage thread; its wall seconds."""
        loop = asyncio.get_running_loop()
        async with self._stage_lock:
            # the costly part, on the stage's own thread: heartbeats, timers,
            # the probe loop and the HTTP API go on meanwhile
            t0 = loop.time()
            await loop.run_in_executor(
                self._cpu, self._refresh, stage, self.cfg.clock(), t0, force, defer
            )
            return loop.time() - t0

    async def _publish_ready(self, partition: int, stage: StatementStage) -> int:
        """Publish what waits, in groups sent and confirmed in slices; how many were published.

        A book whose every statement changed (a new minute of the month) never
        holds the loop for the whole book, and waits for the broker, the store
        and the changelog once per group of :data:`PUBLISH_GROUP`.
        """
        loop = asyncio.get_running_loop()
        published = 0
        while True:
            changed = stage.ready_outputs(
                loop.time(),
                settle=self.cfg.settle_seconds,
                hold_final=not self.caught_up,
                limit=PUBLISH_GROUP,
            )
            if not changed:
                return published
            t_start = loop.time()
            slices = [changed[i : i + PUBLISH_SLICE] for i in range(0, len(changed), PUBLISH_SLICE)]
            futures: list[Any] = []
            for part in slices:
                futures.extend(await self._send([m for m, _ in part]))
                await asyncio.sleep(0)
            await self.app.producer.flush()
            for fut in futures:
                await fut
            t_sent = loop.time()
            # stored before they are recorded as published, so a crash while the
            # store is down publishes and stores them again, never leaves them unstored
            await self._store([o for _, o in changed])
            t_stored = loop.time()
            # only now that billing can read them: a crash before this line
            # publishes them again (same revision), never skips them
            for part in slices:
                stage.confirm([o for _, o in part])
                await asyncio.sleep(0)
            await self._tables_delivered()
            self.publish_phases["send"] += t_sent - t_start
            self.publish_phases["store"] += t_stored - t_sent
            self.publish_phases["confirm"] += loop.time() - t_stored
            self.published[partition] = self.published.get(partition, 0) + len(changed)
            published += len(changed)

    def _refresh(
        self, stage: StatementStage, now: datetime, mono: float, force: bool, defer: bool
    ) -> None:
        """A statement stage's recomputation (on its thread), then a garbage-collector freeze.

        What a recomputation keeps (thousands of outputs and the shared
        results behind them) lives until the next one; frozen, the cyclic
        collector no longer scans it, where a full collection of a large book
        held the loop for seconds. Frozen objects are still freed by
        reference counting when dropped; only reference cycles among them
        would outlive their use, and the outputs have none.
        """
        # The collector stays off until the new objects are frozen: switched back on
        # first, its next collection would scan the millions of objects the pass
        # made, in one piece of C that holds the GIL (and so the event loop) for
        # as long as it takes, half a second at 10,000 contracts.
        collecting = gc.isenabled()
        gc.disable()
        try:
            stage.refresh(now, mono, force, defer)
        finally:
            gc.freeze()
            if collecting:
                gc.enable()

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
            received = datetime.fromtimestamp(e.timestamp, UTC) if e.timestamp else None
            rows.append(RawEvent(e.raw, received or self.cfg.clock(), src))
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


class _TableStore(MutableMapping[str, bytes]):
    """A ``str -> bytes`` view over a Faust table whose keys and values are raw bytes.

    Writes go to the table's local store and to its changelog, and the
    changelog futures are kept until :meth:`delivered` awaits them. Faust's
    own ``table[key] = value`` puts the changelog message in a buffer whose
    flush gives up after 0.1 s without progress, so an offset could be
    committed before the state it depends on reached Kafka; a worker killed
    then restarted from a changelog missing that update, and the events
    behind it were never read again (a lost minute).

    One view per statement partition: its keys are stored as
    ``"<partition>|<key>"`` in the changelog partition of that number, so the
    local table (which also holds the partitions this worker is standby for)
    keeps each partition's state apart.
    """

    def __init__(self, table: Any, partition: int) -> None:
        self.table = table
        self.partition = partition
        self._prefix = f"{partition}|".encode()
        #: (key, changelog future) of every write not yet known to be in Kafka
        self._unsent: list[tuple[bytes, Any]] = []

    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def __getitem__(self, key: str) -> bytes:
        value = self.table.get(self._key(key))
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        k = self._key(key)
        self.table.data[k] = value
        self._send(k)

    def __delitem__(self, key: str) -> None:
        k = self._key(key)
        if self.table.get(k) is None:
            raise KeyError(key)
        del self.table.data[k]
        self._send(k)

    def _send(self, k: bytes) -> None:
        """Queue the key's current value (a tombstone once deleted) for its changelog."""
        value = self.table.data.get(k)
        partition = self.partition
        if value is None:
            sent = self.table.send_changelog(partition, k, value=None, value_serializer="raw")
        else:
            sent = self.table.send_changelog(partition, k, value)
        self._unsent.append((k, sent))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.table.get(self._key(key)) is not None

    def __iter__(self) -> Iterator[str]:
        n = len(self._prefix)
        mine = [bytes(k) for k in list(self.table.keys()) if bytes(k).startswith(self._prefix)]
        return iter([k[n:].decode() for k in mine])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    async def delivered(self, timeout: float = 120.0) -> None:
        """Wait until every changelog write so far is acknowledged by Kafka.

        A write that failed (or got no answer within ``timeout``) is queued
        again with the key's current value before the error is raised, so the
        next call sends it: the local table never keeps a change its
        changelog missed, which a restart would lose while the offset behind
        it was committed.
        """
        while self._unsent:
            pending, self._unsent = self._unsent, []
            gathered = asyncio.gather(*(f for _, f in pending), return_exceptions=True)
            try:
                results = await asyncio.wait_for(gathered, timeout)
            except TimeoutError:
                results = [TimeoutError("changelog write not acknowledged")] * len(pending)
            failed = [
                (k, r)
                for (k, _), r in zip(pending, results, strict=True)
                if isinstance(r, BaseException)
            ]
            if failed:
                for k in dict.fromkeys(k for k, _ in failed):
                    self._send(k)
                raise failed[0][1]


def _timing(partition: int, recompute: float, publish: float, published: int) -> dict[str, Any]:
    """One partition's share of an emit cycle, in wall seconds."""
    return {
        "partition": partition,
        "recompute_seconds": round(recompute, 3),
        "publish_seconds": round(publish, 3),
        "published": published,
    }


def _recompute_done(fut: asyncio.Future[float]) -> None:
    """Collect a recomputation nobody waits for any more (its failure is logged)."""
    if not fut.cancelled() and fut.exception() is not None:
        log.error("a statement recomputation failed: %s", fut.exception())


def _unauthorized(web: Any) -> Any:
    return web.json(
        {"error": "this page needs the API token: Authorization: Bearer <token>"},
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _source(event: Any) -> dict[str, Any]:
    msg = event.message
    return {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}


def create_app(cfg: WorkerConfig) -> faust.App:
    """A configured Faust app, ready for ``faust.Worker``."""
    return Worker(cfg).app
