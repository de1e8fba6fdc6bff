"""The consumer lag of every input partition, measured on a thread with a deadline.

:class:`ConsumerLag` measures, every two seconds (the ``measure_lag`` timer of
:mod:`streams.agents`), the end offset minus the committed offset of the
statement stage's group and of the probe loop's, over every input partition.
A measurement that fails or does not answer within ``lag_timeout`` leaves
the lag unknown, and the worker degraded (:mod:`streams.health`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streams import topics
from streams.failures import describe_failure
from streams.wiring import WorkerWiring
from streams.workerconfig import WorkerConfig

#: one logger for every layer of the worker: its log lines are all ``streams.app``'s
log = logging.getLogger("streams.app")


class ConsumerLag(WorkerWiring):
    """The lag measurement and how fresh it is."""

    def __init__(self, cfg: WorkerConfig) -> None:
        super().__init__(cfg)
        #: committed offset per input partition (from the lag measurement)
        self._committed: dict[tuple[str, int], int] = {}
        #: consumer-group lag per (topic, partition) over every input topic
        self.lag: dict[tuple[str, int], int] = {}
        #: monotonic time of the last successful lag measurement, and why the last one failed
        self._lag_at: float | None = None
        self._lag_error: str | None = "not measured yet"
        #: the measurement running on its thread, and when it started
        self._lag_job: tuple[asyncio.Future[dict[tuple[str, int], int]], float] | None = None
        self._lag_clients: tuple[Any, Any] | None = None

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

    def _new_lag_clients(self) -> tuple[Any, Any]:
        """The admin client and the consumer a lag measurement asks (kafka-python)."""
        from kafka import KafkaAdminClient, KafkaConsumer

        return (
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

    def _group_lag(self) -> dict[tuple[str, int], int]:
        """End offset minus the group's committed offset, for every input partition.

        Blocking (kafka-python); run it in an executor.
        """
        from kafka import TopicPartition

        if self._lag_clients is None:
            self._lag_clients = self._new_lag_clients()
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
