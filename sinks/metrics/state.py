"""What the collector reads: the pipeline's counters and the state protocols.

The streaming worker implements :class:`PipelineState` (and
:class:`SupportState`) over its tables and counters; the offline replay and
the tests use :class:`ReplayState`, built from a
:class:`~fold.replay.ReplayResult` (any :class:`ReplayLike`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sla.results import ContractMonth, ServiceMonth, TicketVerdict


@dataclass(frozen=True)
class PipelineStats:
    """Counters of the running pipeline, read at every scrape.

    Every count is cumulative since the process started and never decreases
    (Prometheus counters); a restart starts them again from zero.

    - ``events_by_type``: valid events processed, by event ``type``.
    - ``dead_letters_by_reason``: rejected inputs by reason (SPEC section 10).
    - ``late_events``: valid events that changed a month already final.
    - ``sink_errors``: failed writes by sink name (``clickhouse``, ``kafka``).
    - ``sink_rows_written``: rows written by table or topic.
    - ``sink_retries``, ``sink_batches``, ``sink_insert_seconds``: by sink name;
      insert latency is ``rate(seconds) / rate(batches)``.
    - ``consumer_lag``: messages behind the log end by ``(topic, partition)``
      (a gauge: the latest known lag).
    - ``last_event_unixtime``: wall-clock Unix time at which the last event
      was processed, None before the first one.
    - ``degraded``: the :data:`DEGRADED_REASONS` that hold now (a gauge:
      every reason is exported, 1 when it holds, else 0).
    - ``unreadable_state``: stored values (table or changelog) a restore
      skipped because they could not be read.
    - ``loop_lag_buckets``, ``loop_lag_sum``: the event loop's lag samples as
      ``(upper bound, cumulative count)`` pairs ending with ``+Inf``, and
      their sum in seconds (a histogram; none before the first sample).
    - ``statement_delay_buckets``, ``statement_delay_sum``: the same, of the
      statement stage's delay: per emit cycle that took in new inputs, the
      seconds from the first of them being folded to the publication of the
      last real change they made.
    """

    events_by_type: Mapping[str, int] = field(default_factory=dict)
    dead_letters_by_reason: Mapping[str, int] = field(default_factory=dict)
    late_events: int = 0
    sink_errors: Mapping[str, int] = field(default_factory=dict)
    sink_rows_written: Mapping[str, int] = field(default_factory=dict)
    sink_retries: Mapping[str, int] = field(default_factory=dict)
    sink_batches: Mapping[str, int] = field(default_factory=dict)
    sink_insert_seconds: Mapping[str, float] = field(default_factory=dict)
    consumer_lag: Mapping[tuple[str, int], int] = field(default_factory=dict)
    last_event_unixtime: float | None = None
    degraded: frozenset[str] = frozenset()
    loop_lag_buckets: Sequence[tuple[float, int]] = ()
    loop_lag_sum: float = 0.0
    statement_delay_buckets: Sequence[tuple[float, int]] = ()
    statement_delay_sum: float = 0.0
    unreadable_state: int = 0


class PipelineState(Protocol):
    """What the collector reads at scrape time; implemented by the worker.

    Every method is called once per scrape, from the HTTP server's thread,
    and must return a consistent snapshot (copy under a lock, or hand out
    immutable values). None of them may block on I/O.
    """

    def statements(self) -> Iterable[Mapping[str, Any] | ContractMonth]:
        """The latest ``contract_month`` statement per contract and month.

        Each is a whole statement (SPEC section 6): its wire dict, which the
        collector reads with :func:`sla.results.read_contract_month`, or that
        typed value itself. A statement the collector cannot read fails the
        scrape. A state hands out statements it never changes afterwards: the
        collector reads an object it was handed at the previous scrape only
        once. Months dropped from the state may be left out.
        """
        ...

    def service_months(self) -> Iterable[Mapping[str, Any] | ServiceMonth]:
        """The latest ``service_month`` record per service and UTC month, as :meth:`statements`."""
        ...

    def pipeline(self) -> PipelineStats:
        """The pipeline's counters now."""
        ...


class SupportState(Protocol):
    """The support part of the state, read at scrape time when the state has it.

    A state object (the worker's, :class:`ReplayState`) that also has this
    method gets the ``availability_support_*`` metrics; one without it
    exports none of them. Same rules as :class:`PipelineState`: called once
    per scrape, a consistent snapshot, no blocking I/O.
    """

    def support_outputs(self) -> Iterable[Mapping[str, Any] | TicketVerdict]:
        """The latest ``ticket_verdict`` output of every ticket.

        Each is a whole verdict (``schemas.outputs.TicketVerdictRecord``), its
        wire dict or :class:`sla.results.TicketVerdict`, read as
        :meth:`PipelineState.statements` are; other output kinds in the
        iterable (``ticket_alert``, ``support_month``) are ignored, so the
        worker may hand over every support output it keeps. Tickets dropped
        from the state may be left out.
        """
        ...


class FoldCounts(Protocol):
    """Events by type and dead letters by reason, as a replay counted them."""

    @property
    def events(self) -> Mapping[str, int]: ...

    @property
    def dead_letters(self) -> Mapping[str, int]: ...


class ReplayLike(Protocol):
    """What :class:`ReplayState` reads of a replay's result (``fold.replay.ReplayResult``).

    A protocol: any result with these parts will do.
    """

    @property
    def outputs(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def stats(self) -> FoldCounts: ...


@dataclass(frozen=True)
class StateSnapshot:
    """A :class:`PipelineState` (and :class:`SupportState`) fixed at one instant.

    ``outputs`` are the latest outputs of every kind (contract-month
    statements, service-month records, ticket verdicts; other kinds are
    ignored) and ``stats`` the counters, both taken when the snapshot was
    made. A worker makes one on its event loop, which is cheap (a list of
    references and the counters), and a scrape reads it on another thread
    (``streams.metricspage``).
    """

    outputs: Sequence[Mapping[str, Any]] = ()
    stats: PipelineStats = field(default_factory=PipelineStats)

    def _of(self, kind: str) -> list[Mapping[str, Any]]:
        return [o for o in self.outputs if o.get("kind") == kind]

    def statements(self) -> list[Mapping[str, Any]]:
        return self._of("contract_month")

    def service_months(self) -> list[Mapping[str, Any]]:
        return self._of("service_month")

    def support_outputs(self) -> list[Mapping[str, Any]]:
        return self._of("ticket_verdict")

    def pipeline(self) -> PipelineStats:
        return self.stats


class ReplayState(StateSnapshot):
    """The :class:`StateSnapshot` of an offline replay's result.

    The statements and records are the replay's outputs. The replay has no
    Kafka and no sinks: lag, sink figures and late events are empty unless
    passed in ``pipeline``.
    """

    def __init__(self, result: ReplayLike, *, pipeline: PipelineStats | None = None) -> None:
        super().__init__(
            tuple(result.outputs),
            pipeline
            or PipelineStats(
                events_by_type=dict(result.stats.events),
                dead_letters_by_reason=dict(result.stats.dead_letters),
            ),
        )


__all__ = [
    "FoldCounts",
    "PipelineState",
    "PipelineStats",
    "ReplayLike",
    "ReplayState",
    "StateSnapshot",
    "SupportState",
]
