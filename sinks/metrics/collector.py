"""The collector: every metric, derived from the pipeline's state at scrape time.

Register one :class:`AvailabilityCollector` in the registry a process
serves; :func:`render` turns any state into the text exposition format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from sinks.metrics.counters import MonotonicTotals, TicketTotals
from sinks.metrics.exposition import Rows, materialized, scrape_family, write
from sinks.metrics.exposition import add as _add
from sinks.metrics.families import (
    _CONTRACT_FAMILIES,
    _PIPELINE_FAMILIES,
    _SERVICE_FAMILIES,
    _SUPPORT_FAMILIES,
    _family,
)
from sinks.metrics.figures import (
    TypedOutputs,
    _budget_ratio,
    _contract_span,
    _Figures,
    _figures,
    _latest,
    _service_span,
)
from sinks.metrics.names import (
    CONSUMER_LAG_MESSAGES,
    CONTRACT_BUDGET_MINUTES,
    CONTRACT_BUDGET_REMAINING_MINUTES,
    CONTRACT_BUDGET_REMAINING_RATIO,
    CONTRACT_CREDIT_AMOUNT,
    CONTRACT_CREDIT_RATIO,
    CONTRACT_ELAPSED_MINUTES,
    CONTRACT_EXCLUDED_MINUTES,
    CONTRACT_MEETS_TARGET,
    CONTRACT_MINUTES,
    CONTRACT_MINUTES_TOTAL,
    CONTRACT_MONTH_MINUTES,
    CONTRACT_REVISIONS_TOTAL,
    CONTRACT_STATEMENT_REVISION,
    CONTRACT_STATEMENT_STATUS,
    CONTRACT_STATEMENTS,
    CONTRACT_TIER_HEADROOM_MINUTES,
    CONTRACT_UPTIME_RATIO,
    CONTRACT_UPTIME_TARGET_RATIO,
    DEAD_LETTERS_TOTAL,
    DEGRADED_REASONS,
    EVENT_LOOP_LAG_SECONDS,
    EVENTS_TOTAL,
    LAST_EVENT_TIMESTAMP,
    LATE_EVENTS_TOTAL,
    METRIC_NAMES,
    RESPONSE_BUCKETS,
    SERVICE_BUDGET_MINUTES,
    SERVICE_BUDGET_REMAINING_MINUTES,
    SERVICE_BUDGET_REMAINING_RATIO,
    SERVICE_MINUTES,
    SERVICE_MINUTES_TOTAL,
    SERVICE_MONTH_MINUTES,
    SERVICE_UPTIME_RATIO,
    SINK_BATCHES_TOTAL,
    SINK_ERRORS_TOTAL,
    SINK_INSERT_SECONDS_TOTAL,
    SINK_RETRIES_TOTAL,
    SINK_ROWS_WRITTEN_TOTAL,
    STATEMENT_DELAY_SECONDS,
    STATUSES,
    SUPPORT_BREACHES_TOTAL,
    SUPPORT_FIRST_RESPONSE_SECONDS,
    SUPPORT_TICKETS_AT_RISK,
    SUPPORT_TICKETS_OPEN,
    TICKET_SEVERITIES,
    UNREADABLE_STATE_TOTAL,
    WORKER_DEGRADED,
)
from sinks.metrics.state import PipelineState
from sla.credit import error_budget, format_decimal, minutes_until_tier
from sla.results import ContractMonth, ServiceMonth, TicketVerdict
from sla.statement_terms import DEFAULT_TARGET
from sla.timeutil import epoch_minute

#: The wall clock of a collector: returns the aware UTC "now" of a scrape.
WallClock = Callable[[], datetime]


class AvailabilityCollector(Collector):
    """Reads a :class:`PipelineState` at every scrape and yields every metric.

    ``clock`` returns the aware "now" of a scrape: the current month of a
    contract is the statement whose ``[period_start, period_end)`` contains
    it, the current month of a service is the UTC month containing it, and
    elapsed minutes are counted up to it. Register one instance in one
    registry; ``collect`` may run concurrently from several HTTP threads.
    Exceptions raised by the state propagate: the scrape fails and the
    target's ``up`` becomes 0, which is alerted on, rather than exporting a
    partial view that would look healthy.
    """

    def __init__(
        self, state: PipelineState, clock: WallClock, *, count_history: bool = False
    ) -> None:
        self.state = state
        self.clock = clock
        self._contract_totals = MonotonicTotals(count_history)
        self._service_totals = MonotonicTotals(count_history)
        self._revision_totals = MonotonicTotals(count_history)
        self._tickets = TicketTotals(count_history)
        self._statements = TypedOutputs(ContractMonth)
        self._service_months = TypedOutputs(ServiceMonth)
        self._verdicts = TypedOutputs(TicketVerdict)

    def describe(self) -> Iterable[Metric]:
        """The metric families without samples (the registry checks names with them)."""
        return [_family(name) for name in sorted(METRIC_NAMES)]

    def collect(self) -> Iterable[Metric]:
        """Every family of a scrape, as the library's (for a registry)."""
        return [materialized(f) for f in self._scrape()]

    def exposition(self) -> bytes:
        """A scrape's text exposition, as ``generate_latest`` of a registry gives it, faster.

        The text is byte for byte the same (:mod:`sinks.metrics.exposition`),
        made without a sample object per series; what the worker serves.
        """
        return write(self._scrape())

    def _scrape(self) -> Iterator[Rows | Metric]:
        now = self.clock()
        now_minute = epoch_minute(now)
        yield from self._contracts(now_minute)
        yield from self._services(now_minute)
        yield from self._support(now)
        yield from self._pipeline()

    # -- contracts --

    def _contracts(self, now_minute: int) -> Iterator[Rows | Metric]:
        fam = {name: scrape_family(name) for name in _CONTRACT_FAMILIES}
        statements = _latest(
            self._statements.read(self.state.statements()), lambda st: st.contract_id
        )
        counts: dict[tuple[str, str, str], int] = {}
        revisions: dict[tuple[str, str, str], int] = {}
        by_status = dict.fromkeys(STATUSES, 0)
        for (cid, month), st in sorted(statements.items()):
            first, end = _contract_span(st)
            fig = _figures(st, first, end, now_minute)
            for state, n in fig.by_state().items():
                counts[(cid, month, state)] = n
            revisions[(cid, month, "revision")] = st.revision
            by_status[st.status] += 1
            if first <= now_minute < end:
                self._current_contract(fam, cid, month, st, fig)
        for (cid, state), total in sorted(self._contract_totals.observe(counts).items()):
            _add(fam[CONTRACT_MINUTES_TOTAL], [cid, state], total)
        for (cid, _), total in sorted(self._revision_totals.observe(revisions).items()):
            _add(fam[CONTRACT_REVISIONS_TOTAL], [cid], total)
        for status, n in sorted(by_status.items()):
            _add(fam[CONTRACT_STATEMENTS], [status], n)
        yield from fam.values()

    @staticmethod
    def _current_contract(
        fam: dict[str, Rows | Metric], cid: str, month: str, st: ContractMonth, fig: _Figures
    ) -> None:
        m, d = fig.minutes, fig.counted
        budget = error_budget(m, st.uptime_target)
        remaining = budget - d
        key = [cid, month]
        _add(fam[CONTRACT_UPTIME_RATIO], key, (m - d) / m if m > 0 else 1.0)
        _add(fam[CONTRACT_UPTIME_TARGET_RATIO], key, float(st.uptime_target / 100))
        _add(fam[CONTRACT_MEETS_TARGET], key, 1 if st.meets_target else 0)
        _add(fam[CONTRACT_MONTH_MINUTES], key, m)
        _add(fam[CONTRACT_ELAPSED_MINUTES], key, fig.elapsed)
        for state, n in fig.by_state().items():
            _add(fam[CONTRACT_MINUTES], [*key, state], n)
        for cause, n in sorted(st.excluded_minutes.items()):
            _add(fam[CONTRACT_EXCLUDED_MINUTES], [*key, cause], n)
        _add(fam[CONTRACT_BUDGET_MINUTES], key, budget)
        _add(fam[CONTRACT_BUDGET_REMAINING_MINUTES], key, remaining)
        _add(fam[CONTRACT_BUDGET_REMAINING_RATIO], key, _budget_ratio(budget, remaining))
        for tier in st.credit_tiers:
            pct = format_decimal(tier.credit_percent)
            _add(
                fam[CONTRACT_TIER_HEADROOM_MINUTES],
                [*key, pct],
                minutes_until_tier(m, d, tier.below),
            )
        _add(fam[CONTRACT_CREDIT_RATIO], key, float(st.credit_percent / 100))
        _add(fam[CONTRACT_CREDIT_AMOUNT], [*key, st.currency], float(st.credit_amount))
        _add(fam[CONTRACT_STATEMENT_REVISION], key, st.revision)
        for s in STATUSES:
            _add(fam[CONTRACT_STATEMENT_STATUS], [*key, s], 1 if s == st.status else 0)

    # -- services --

    def _services(self, now_minute: int) -> Iterator[Rows | Metric]:
        fam = {name: scrape_family(name) for name in _SERVICE_FAMILIES}
        records = _latest(
            self._service_months.read(self.state.service_months()), lambda rec: rec.service
        )
        counts: dict[tuple[str, str, str], int] = {}
        for (service, month), rec in sorted(records.items()):
            first, end = _service_span(rec)
            fig = _figures(rec, first, end, now_minute)
            for state, n in fig.by_state().items():
                counts[(service, month, state)] = n
            if not first <= now_minute < end:
                continue
            m, d = fig.minutes, fig.counted
            # a service has no contract: its budget is at the SLA's target, as the core's
            budget = error_budget(m, DEFAULT_TARGET)
            remaining = budget - d
            key = [service, month]
            _add(fam[SERVICE_UPTIME_RATIO], key, (m - d) / m if m > 0 else 1.0)
            _add(fam[SERVICE_MONTH_MINUTES], key, m)
            for state, n in fig.by_state().items():
                _add(fam[SERVICE_MINUTES], [*key, state], n)
            _add(fam[SERVICE_BUDGET_MINUTES], key, budget)
            _add(fam[SERVICE_BUDGET_REMAINING_MINUTES], key, remaining)
            _add(fam[SERVICE_BUDGET_REMAINING_RATIO], key, _budget_ratio(budget, remaining))
        for (service, state), total in sorted(self._service_totals.observe(counts).items()):
            _add(fam[SERVICE_MINUTES_TOTAL], [service, state], total)
        yield from fam.values()

    # -- support --

    def _support(self, now: datetime) -> Iterator[Rows | Metric]:
        read = getattr(self.state, "support_outputs", None)
        if read is None:
            return
        verdicts = self._verdicts.read(o for o in read() if _kind(o) == "ticket_verdict")
        fig = self._tickets.observe(verdicts, now)
        fam = {name: scrape_family(name) for name in _SUPPORT_FAMILIES}
        for severity in TICKET_SEVERITIES:
            _add(fam[SUPPORT_TICKETS_OPEN], [severity], fig.open[severity])
            _add(fam[SUPPORT_TICKETS_AT_RISK], [severity], fig.at_risk[severity])
            _add(fam[SUPPORT_BREACHES_TOTAL], [severity], fig.breaches[severity])
            bounds = [repr(float(b)) for b in RESPONSE_BUCKETS] + ["+Inf"]  # "300.0"
            hist = fam[SUPPORT_FIRST_RESPONSE_SECONDS]
            if isinstance(hist, HistogramMetricFamily):
                hist.add_metric(
                    [severity],
                    list(zip(bounds, map(float, fig.buckets[severity]), strict=True)),
                    float(fig.seconds[severity]),
                )
        yield from fam.values()

    # -- pipeline --

    def _pipeline(self) -> Iterator[Rows | Metric]:
        p = self.state.pipeline()
        fam = {name: scrape_family(name) for name in _PIPELINE_FAMILIES}
        for kind, n in sorted(p.events_by_type.items()):
            _add(fam[EVENTS_TOTAL], [kind], n)
        for reason, n in sorted(p.dead_letters_by_reason.items()):
            _add(fam[DEAD_LETTERS_TOTAL], [reason], n)
        _add(fam[LATE_EVENTS_TOTAL], [], p.late_events)
        for sink, n in sorted(p.sink_errors.items()):
            _add(fam[SINK_ERRORS_TOTAL], [sink], n)
        for table, n in sorted(p.sink_rows_written.items()):
            _add(fam[SINK_ROWS_WRITTEN_TOTAL], [table], n)
        for sink, n in sorted(p.sink_retries.items()):
            _add(fam[SINK_RETRIES_TOTAL], [sink], n)
        for sink, n in sorted(p.sink_batches.items()):
            _add(fam[SINK_BATCHES_TOTAL], [sink], n)
        for sink, secs in sorted(p.sink_insert_seconds.items()):
            _add(fam[SINK_INSERT_SECONDS_TOTAL], [sink], secs)
        for (topic, partition), lag in sorted(p.consumer_lag.items()):
            _add(fam[CONSUMER_LAG_MESSAGES], [topic, str(partition)], lag)
        if p.last_event_unixtime is not None:
            _add(fam[LAST_EVENT_TIMESTAMP], [], p.last_event_unixtime)
        for reason in DEGRADED_REASONS:
            _add(fam[WORKER_DEGRADED], [reason], 1 if reason in p.degraded else 0)
        _add(fam[UNREADABLE_STATE_TOTAL], [], p.unreadable_state)
        _seconds(fam[EVENT_LOOP_LAG_SECONDS], p.loop_lag_buckets, p.loop_lag_sum)
        _seconds(fam[STATEMENT_DELAY_SECONDS], p.statement_delay_buckets, p.statement_delay_sum)
        yield from fam.values()


def _seconds(family: Rows | Metric, buckets: Sequence[tuple[float, int]], total: float) -> None:
    """A histogram of seconds without labels from ``(le, cumulative count)`` pairs, if any."""
    if buckets and isinstance(family, HistogramMetricFamily):
        bounds = [("+Inf" if le == float("inf") else repr(le), float(n)) for le, n in buckets]
        family.add_metric([], bounds, total)


def _kind(output: Mapping[str, Any] | TicketVerdict) -> object:
    return output.kind if isinstance(output, TicketVerdict) else output.get("kind")


def render(state: PipelineState, clock: WallClock, *, count_history: bool = True) -> bytes:
    """The text exposition of ``state`` at ``clock()`` (a fresh collector each call).

    For one-off views (the offline CLI, tests); a long-running process keeps
    one collector so its counters stay monotonic across scrapes.
    """
    return AvailabilityCollector(state, clock, count_history=count_history).exposition()


__all__ = ["AvailabilityCollector", "WallClock", "render"]
