"""What the worker shows: the latest outputs of its partitions and its pipeline stats.

:class:`WorkerReadouts` makes the snapshot of the worker that a scrape of
``/metrics`` reads (a ``sinks.metrics.StateSnapshot``, made on the event
loop and read on another thread), and the look-ups of the HTTP views.
"""

from __future__ import annotations

from typing import Any

from sinks.metrics import PipelineStats, StateSnapshot
from streams.batches import BatchHandling
from streams.workerconfig import WorkerConfig


class WorkerReadouts(BatchHandling):
    """The latest outputs and the pipeline stats."""

    def __init__(self, cfg: WorkerConfig) -> None:
        super().__init__(cfg)
        self._last_event_unixtime: float | None = None

    # -- what the metrics collector reads at scrape time -------------------------

    def _all_latest(self) -> list[dict[str, Any]]:
        """The latest output of every key of the statement partitions this worker owns."""
        return [o for st in list(self.stages.values()) for o in list(st.latest.values())]

    def _latest(self, key: bytes) -> dict[str, Any] | None:
        for st in list(self.stages.values()):
            found = st.latest.get(key)
            if found is not None:
                return found
        return None

    def metrics_snapshot(self) -> StateSnapshot:
        """The latest outputs and the counters now; call on the event loop.

        The outputs are the very objects the stages keep, which they replace
        and never change, so another thread may read them.
        """
        return StateSnapshot(self._all_latest(), self.pipeline())

    def pipeline(self) -> PipelineStats:
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
            loop_lag_buckets=self.loop_lag.buckets(),
            loop_lag_sum=self.loop_lag.total,
            statement_delay_buckets=self.statement_delay.buckets(),
            statement_delay_sum=self.statement_delay.total,
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
