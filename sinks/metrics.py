"""Prometheus metrics: availability, error budgets, credits and pipeline health.

The metrics are derived from the pipeline's state *at scrape time* by a
custom collector (:class:`AvailabilityCollector`), never set by the code
that computes the statements: the state is the truth and the collector is a
view of it, so a scrape can never see a half-updated gauge, and nothing but
the state needs to be kept in step.

Who calls what:

- The streaming worker implements :class:`PipelineState` (and
  :class:`SupportState`) over its tables and counters, builds one
  ``AvailabilityCollector(state, clock)`` and registers
  it in its registry (``registry.register(collector)``); the HTTP endpoint
  serving that registry is the worker's.
- The offline replay and the tests use :class:`ReplayState`, built from a
  :class:`~fold.replay.ReplayResult` (any :class:`ReplayLike`);
  :func:`render` turns any state into the text exposition format.

Every metric name the pipeline exports is a constant below; the set is
closed (:data:`METRIC_NAMES`), and deploy/prometheus/rules.yml, the Grafana
dashboards and docs/alerting.md use only these names.

Units. Prometheus prefers base units (seconds, ratios). The SLA's unit is
the whole minute: budgets are ``floor(M * (1 - target))`` minutes, tiers
move one minute at a time and the statements count minutes. Exporting those
counts as seconds would multiply every exact integer by 60 for no reader's
benefit and invite comparisons such as "budget < 2640 s" that nobody can
check against a statement, so minute counts carry a ``_minutes`` (gauges)
or ``_minutes_total`` (counters) suffix. Ratios are 0-1, timestamps are
Unix seconds, money is in the currency named by the ``currency`` label.

Cardinality. Labels are bounded: ``contract_id``, ``service``, ``state``
(4 values), ``cause`` (5), ``credit_percent`` (the contract's tiers),
``status`` (3), ``month`` (only ever the *current* month of the series:
the month-to-date series of a month disappear when the next month starts),
event ``type``, dead-letter ``reason``, sink, table, Kafka topic and
partition, ``ticket_severity`` (3), the worker's degraded ``reason``
(:data:`DEGRADED_REASONS`, 3). No event, incident, claim, ticket or
client id is ever a label.

Support. When the state also has ``support_outputs()``
(:class:`SupportState`), the collector exports tickets open and at risk
(gauges read at scrape time), breaches (a counter, each ticket once) and
the first-response time in business seconds (a histogram, each responded
ticket once), all by ``ticket_severity``. Business seconds for every
severity, High included, whose target runs on the wall clock: the
histogram compares response effort across severities on one clock, the
verdicts say whether each target was met.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from sla.book import Book
from sla.credit import error_budget, format_decimal, minutes_until_tier
from sla.model import DEFAULT_TIERS, JSON, CreditTier
from sla.months import Month, month_bounds
from sla.timeutil import epoch_minute, parse_instant

#: The wall clock of a collector: returns the aware UTC "now" of a scrape.
WallClock = Callable[[], datetime]

# -- the closed set of metric names ------------------------------------------------

PREFIX = "availability_"

# Contracts, current month (labels: contract_id, month, and as noted).
CONTRACT_UPTIME_RATIO = "availability_contract_uptime_ratio"
CONTRACT_UPTIME_TARGET_RATIO = "availability_contract_uptime_target_ratio"
CONTRACT_MEETS_TARGET = "availability_contract_meets_target"
CONTRACT_MONTH_MINUTES = "availability_contract_month_minutes"
CONTRACT_ELAPSED_MINUTES = "availability_contract_month_elapsed_minutes"
CONTRACT_MINUTES = "availability_contract_minutes"  # + state
CONTRACT_EXCLUDED_MINUTES = "availability_contract_excluded_minutes"  # + cause
CONTRACT_BUDGET_MINUTES = "availability_contract_error_budget_minutes"
CONTRACT_BUDGET_REMAINING_MINUTES = "availability_contract_error_budget_remaining_minutes"
CONTRACT_BUDGET_REMAINING_RATIO = "availability_contract_error_budget_remaining_ratio"
CONTRACT_TIER_HEADROOM_MINUTES = "availability_contract_credit_tier_headroom_minutes"  # + pct
CONTRACT_CREDIT_RATIO = "availability_contract_credit_ratio"
CONTRACT_CREDIT_AMOUNT = "availability_contract_credit_amount"  # + currency
CONTRACT_STATEMENT_REVISION = "availability_contract_statement_revision"
CONTRACT_STATEMENT_STATUS = "availability_contract_statement_status"  # + status
# Contracts, all months in the state.
CONTRACT_MINUTES_TOTAL = "availability_contract_minutes_total"  # contract_id, state
CONTRACT_REVISIONS_TOTAL = "availability_contract_statement_revisions_total"  # contract_id
CONTRACT_STATEMENTS = "availability_contract_statements"  # status

# Services, current UTC month (labels: service, month, and as noted).
SERVICE_UPTIME_RATIO = "availability_service_uptime_ratio"
SERVICE_MONTH_MINUTES = "availability_service_month_minutes"
SERVICE_MINUTES = "availability_service_minutes"  # + state
SERVICE_BUDGET_MINUTES = "availability_service_error_budget_minutes"
SERVICE_BUDGET_REMAINING_MINUTES = "availability_service_error_budget_remaining_minutes"
SERVICE_BUDGET_REMAINING_RATIO = "availability_service_error_budget_remaining_ratio"
# Services, all months in the state.
SERVICE_MINUTES_TOTAL = "availability_service_minutes_total"  # service, state

# Support response times (label: ticket_severity; SPEC section 8).
SUPPORT_TICKETS_OPEN = "availability_support_tickets_open"
SUPPORT_TICKETS_AT_RISK = "availability_support_tickets_at_risk"
SUPPORT_BREACHES_TOTAL = "availability_support_breaches_total"
SUPPORT_FIRST_RESPONSE_SECONDS = "availability_support_first_response_business_seconds"

# Pipeline health.
EVENTS_TOTAL = "availability_events_total"  # type
DEAD_LETTERS_TOTAL = "availability_dead_letters_total"  # reason
LATE_EVENTS_TOTAL = "availability_late_events_total"
SINK_ERRORS_TOTAL = "availability_sink_errors_total"  # sink
SINK_ROWS_WRITTEN_TOTAL = "availability_sink_rows_written_total"  # table
SINK_RETRIES_TOTAL = "availability_sink_retries_total"  # sink
SINK_BATCHES_TOTAL = "availability_sink_batches_total"  # sink
SINK_INSERT_SECONDS_TOTAL = "availability_sink_insert_seconds_total"  # sink
CONSUMER_LAG_MESSAGES = "availability_consumer_lag_messages"  # topic, partition
LAST_EVENT_TIMESTAMP = "availability_last_event_timestamp_seconds"
WORKER_DEGRADED = "availability_worker_degraded"  # reason
EVENT_LOOP_LAG_SECONDS = "availability_event_loop_lag_seconds"  # histogram
UNREADABLE_STATE_TOTAL = "availability_unreadable_state_total"

#: Every name above, as exposed (counters with their ``_total`` suffix).
METRIC_NAMES: frozenset[str] = frozenset(
    value
    for key, value in dict(globals()).items()
    if key.isupper() and isinstance(value, str) and value.startswith(PREFIX) and value != PREFIX
)

#: Values of the ``state`` label: they partition the elapsed minutes of a month.
MINUTE_STATES = ("up", "counted_down", "excluded_down", "no_data")
#: Values of the ``status`` label of statements (SPEC section 6).
STATUSES = ("provisional", "final", "revised")
#: Values of the ``reason`` label of the worker's degraded gauge: a stage that
#: is not running (``probe_stage_down``: the probe loop is starting or
#: restarting after a failure; ``statement_stage_down``: the statement stage
#: is retrying a batch or its outputs cannot be published) and inputs whose
#: lag cannot be measured (``inputs_unreachable``: the broker does not answer),
#: and a store that cannot be written (``store_unavailable``: the stages pause).
DEGRADED_REASONS = (
    "inputs_unreachable",
    "probe_stage_down",
    "statement_stage_down",
    "store_unavailable",
)
#: Values of the ``ticket_severity`` label. Not ``severity``: alerting rules
#: set their own ``severity`` label (warning, critical), which would replace it.
TICKET_SEVERITIES = ("high", "low", "medium")
#: Upper bounds of the first-response histogram, in business seconds: 5, 15
#: and 30 minutes, 1, 1.5, 2, 3 and 4 hours (the targets), 6 hours, one
#: business day (8.5 hours), two and five business days.
RESPONSE_BUCKETS: tuple[int, ...] = (
    300,
    900,
    1800,
    3600,
    5400,
    7200,
    10800,
    14400,
    21600,
    30600,
    61200,
    153000,
)

_HELP: dict[str, str] = {
    CONTRACT_UPTIME_RATIO: "Month-to-date contract uptime (M - D) / M of the current month.",
    CONTRACT_UPTIME_TARGET_RATIO: "The contract's uptime target as a ratio (0.999).",
    CONTRACT_MEETS_TARGET: "1 when the current month meets the target exactly (1000*D <= M).",
    CONTRACT_MONTH_MINUTES: "Minutes M of the current contract month in force.",
    CONTRACT_ELAPSED_MINUTES: "Minutes of the current contract month elapsed at scrape time.",
    CONTRACT_MINUTES: "Elapsed minutes of the current contract month by state.",
    CONTRACT_EXCLUDED_MINUTES: "Excluded down minutes of the current contract month by cause.",
    CONTRACT_BUDGET_MINUTES: "Error budget of the current month: floor(M * (1 - target)).",
    CONTRACT_BUDGET_REMAINING_MINUTES: "Error budget minus counted downtime (can be negative).",
    CONTRACT_BUDGET_REMAINING_RATIO: "Remaining error budget / error budget (can be negative).",
    CONTRACT_TIER_HEADROOM_MINUTES: (
        "More counted minutes that would reach the credit tier (0: reached)."
    ),
    CONTRACT_CREDIT_RATIO: "Credit percent of the current month's statement, as a ratio.",
    CONTRACT_CREDIT_AMOUNT: "Credit owed for the current month so far (statement credit_amount).",
    CONTRACT_STATEMENT_REVISION: "Revision of the current month's statement.",
    CONTRACT_STATEMENT_STATUS: "1 for the status of the current month's statement, else 0.",
    CONTRACT_MINUTES_TOTAL: "Minutes that entered a state, summed over the contract's months.",
    CONTRACT_REVISIONS_TOTAL: "Statement revisions issued, summed over the contract's months.",
    CONTRACT_STATEMENTS: "Latest contract-month statements in the state by status.",
    SERVICE_UPTIME_RATIO: "Month-to-date service uptime of the current UTC month.",
    SERVICE_MONTH_MINUTES: "Minutes M of the current UTC month.",
    SERVICE_MINUTES: "Elapsed minutes of the service's current UTC month by state.",
    SERVICE_BUDGET_MINUTES: "Error budget of the service's current month at 99.9 %.",
    SERVICE_BUDGET_REMAINING_MINUTES: "Service error budget minus counted downtime.",
    SERVICE_BUDGET_REMAINING_RATIO: "Remaining service error budget / error budget.",
    SERVICE_MINUTES_TOTAL: "Minutes that entered a state, summed over the service's months.",
    SUPPORT_TICKETS_OPEN: (
        "Tickets awaiting a first response and not breached (open or at risk) at scrape time."
    ),
    SUPPORT_TICKETS_AT_RISK: (
        "Tickets without a first response past 75 % of their allowed time, before the deadline."
    ),
    SUPPORT_BREACHES_TOTAL: (
        "Tickets whose first-response deadline passed without a response, counted once each."
    ),
    SUPPORT_FIRST_RESPONSE_SECONDS: (
        "Business seconds from opening to the first response, once per responded ticket."
    ),
    EVENTS_TOTAL: "Valid events processed by type.",
    DEAD_LETTERS_TOTAL: "Rejected input events by reason.",
    LATE_EVENTS_TOTAL: "Events that changed a month already final (revisions).",
    SINK_ERRORS_TOTAL: "Failed sink writes (each retry counts) by sink.",
    SINK_ROWS_WRITTEN_TOTAL: "Rows written by table.",
    SINK_RETRIES_TOTAL: "Insert retries by sink.",
    SINK_BATCHES_TOTAL: "Batches written by sink (divide insert seconds by it for latency).",
    SINK_INSERT_SECONDS_TOTAL: "Seconds spent in successful inserts by sink.",
    CONSUMER_LAG_MESSAGES: "Messages not yet consumed by topic and partition.",
    LAST_EVENT_TIMESTAMP: "Unix time at which the last event was processed.",
    WORKER_DEGRADED: (
        "1 while the worker is degraded for the reason (a stage down, inputs unreachable), else 0."
    ),
    UNREADABLE_STATE_TOTAL: (
        "Stored state values a restore skipped because they could not be read (a poison value "
        "in a state topic)."
    ),
    EVENT_LOOP_LAG_SECONDS: (
        "How late the worker's event loop ran a callback due every 50 ms (heartbeats, timers "
        "and the HTTP API wait as long)."
    ),
}


# -- what the collector reads ------------------------------------------------------


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
    unreadable_state: int = 0


class PipelineState(Protocol):
    """What the collector reads at scrape time; implemented by the worker.

    Every method is called once per scrape, from the HTTP server's thread,
    and must return a consistent snapshot (copy under a lock, or hand out
    immutable values). None of them may block on I/O.
    """

    def statements(self) -> Iterable[Mapping[str, Any]]:
        """The latest ``contract_month`` statement per contract and month.

        Dicts with the fields of SPEC section 6 (``contract_id``, ``month``,
        ``period_start``, ``period_end``, ``minutes_in_month``,
        ``counted_downtime_minutes``, ``down_minutes``, ``excluded_minutes``,
        ``no_data_minutes``, ``uptime_target``, ``meets_target``,
        ``credit_percent``, ``credit_amount``, ``currency``, ``status``,
        ``revision``), optionally ``credit_tiers`` (a list of
        ``{"below", "credit_percent"}``; the default tiers otherwise). Months
        dropped from the state may be left out.
        """
        ...

    def service_months(self) -> Iterable[Mapping[str, Any]]:
        """The latest ``service_month`` record per service and UTC month."""
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

    def support_outputs(self) -> Iterable[Mapping[str, Any]]:
        """The latest ``ticket_verdict`` output of every ticket.

        Dicts with the fields of ``schemas.outputs.TicketVerdictRecord``
        (``ticket_id``, ``severity``, ``deadline``, ``at_risk_at``,
        ``responded_at``, ``status``, ``response_business_minutes``); other
        output kinds in the iterable (``ticket_alert``, ``support_month``)
        are ignored, so the worker may hand over every support output it
        keeps. Tickets dropped from the state may be left out.
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

    A protocol, so ``sinks`` does not import ``streams``.
    """

    @property
    def outputs(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def book(self) -> Book: ...

    @property
    def stats(self) -> FoldCounts: ...


class ReplayState:
    """A :class:`PipelineState` over the result of an offline replay.

    The statements are the replay's outputs; each carries the ``credit_tiers``
    of its contract (from the replay's book) when it does not already, so
    the tier headroom follows the contract, not the defaults. The replay has
    no Kafka and no sinks: lag, sink figures and late events are empty unless
    passed in ``pipeline``.
    """

    def __init__(self, result: ReplayLike, *, pipeline: PipelineStats | None = None) -> None:
        self._statements: list[JSON] = []
        self._services: list[JSON] = []
        self._support: list[JSON] = []
        for out in result.outputs:
            if out.get("kind") == "contract_month":
                st = dict(out)
                if "credit_tiers" not in st:
                    contract = result.book.contract(str(st["contract_id"]))
                    tiers = contract.credit_tiers if contract is not None else DEFAULT_TIERS
                    st["credit_tiers"] = [
                        {
                            "below": format_decimal(t.below),
                            "credit_percent": format_decimal(t.credit_percent),
                        }
                        for t in tiers
                    ]
                self._statements.append(st)
            elif out.get("kind") == "service_month":
                self._services.append(dict(out))
            elif out.get("kind") in ("ticket_verdict", "ticket_alert", "support_month"):
                self._support.append(dict(out))
        self._pipeline = pipeline or PipelineStats(
            events_by_type=dict(result.stats.events),
            dead_letters_by_reason=dict(result.stats.dead_letters),
        )

    def statements(self) -> list[JSON]:
        return list(self._statements)

    def service_months(self) -> list[JSON]:
        return list(self._services)

    def support_outputs(self) -> list[JSON]:
        return list(self._support)

    def pipeline(self) -> PipelineStats:
        return self._pipeline


# -- monotonic minute counters -----------------------------------------------------


class MonotonicTotals:
    """Counters made from month-to-date counts that can go down.

    The state holds counts per (key, month, state) that usually grow, but a
    revision can lower one (an incident reclassified to ``aws`` moves minutes
    from ``counted_down`` to ``excluded_down``) and an evicted month drops
    out. A Prometheus counter must never decrease, or ``rate()`` reads the
    decrease as a restart and adds the whole new value. So the exported
    total per (key, state) adds only the *increases* of each (key, month,
    state) count between observations; a decrease is remembered as the new
    level and not subtracted. The counter therefore reads "minutes that
    entered this state", which is what a burn rate needs: a minute counted
    down and later excluded did burn budget at the time it happened, and the
    current, revised truth is in the month-to-date gauges.

    With ``count_history`` false (the streaming worker) the first
    observation is a baseline: the counts already present contribute 0, so
    a restart whose state is recovered from the changelog is a clean counter
    reset and not a spike of a month's minutes inside one ``rate()`` window.
    Keys first seen later (a new month, a new service) count in full. With
    ``count_history`` true (offline replays) the first observation counts
    in full. Thread-safe.
    """

    def __init__(self, count_history: bool = False) -> None:
        self._count_first = count_history
        self._primed = False
        self._last: dict[tuple[str, str, str], int] = {}
        self._totals: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def observe(self, counts: Mapping[tuple[str, str, str], int]) -> dict[tuple[str, str], int]:
        """Fold counts by (key, month, state); return the totals by (key, state)."""
        with self._lock:
            baseline = not self._primed and not self._count_first
            for (key, month, state), value in counts.items():
                prev = self._last.get((key, month, state))
                if prev is None:
                    prev = value if baseline else 0
                total = self._totals.get((key, state), 0)
                self._totals[(key, state)] = total + max(0, value - prev)
                self._last[(key, month, state)] = value
            for gone in set(self._last) - set(counts):
                del self._last[gone]
            self._primed = True
            return dict(self._totals)


# -- support counters ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupportFigures:
    """What the support metrics show at one scrape (see :class:`TicketTotals`)."""

    open: dict[str, int]
    at_risk: dict[str, int]
    breaches: dict[str, int]
    buckets: dict[str, list[int]]  # cumulative, one per RESPONSE_BUCKETS bound, then +Inf
    seconds: dict[str, Decimal]


def _instant(value: Any) -> datetime | None:
    return None if value is None else parse_instant(str(value))


class TicketTotals:
    """Per-ticket counters for the breach counter and the response histogram.

    A ticket counts once: in the breach counter when it is first seen
    breached, in the histogram when it is first seen with a first response,
    each under the ``ticket_severity`` it had then. Later changes (a severity
    change after the response, a re-evaluation) never move an observation,
    so every series only grows and the histogram's buckets stay cumulative.
    A ticket is breached at scrape time when its verdict says so or when it
    has no response and ``now`` has reached its deadline (the state may not
    have re-evaluated it yet); the gauges use the same reading.

    With ``count_history`` false (the worker) the tickets already breached
    or responded at the first scrape are a baseline and count 0, as in
    :class:`MonotonicTotals`: a restart is a clean counter reset. Tickets
    that leave the state are forgotten. Thread-safe.
    """

    def __init__(self, count_history: bool = False) -> None:
        self._count_first = count_history
        self._primed = False
        self._breached: set[str] = set()
        self._responded: set[str] = set()
        self._breaches = dict.fromkeys(TICKET_SEVERITIES, 0)
        self._buckets = {s: [0] * (len(RESPONSE_BUCKETS) + 1) for s in TICKET_SEVERITIES}
        self._seconds = dict.fromkeys(TICKET_SEVERITIES, Decimal(0))
        self._lock = threading.Lock()

    def observe(self, verdicts: Iterable[Mapping[str, Any]], now: datetime) -> SupportFigures:
        """Fold the latest verdicts at ``now``; return the figures to export."""
        open_now = dict.fromkeys(TICKET_SEVERITIES, 0)
        at_risk_now = dict.fromkeys(TICKET_SEVERITIES, 0)
        with self._lock:
            count = self._primed or self._count_first
            seen: set[str] = set()
            for v in verdicts:
                tid = str(v["ticket_id"])
                severity = str(v["severity"])
                if severity not in open_now or tid in seen:
                    continue
                seen.add(tid)
                responded = _instant(v.get("responded_at"))
                deadline = _instant(v["deadline"])
                at_risk_at = _instant(v["at_risk_at"])
                breached = v.get("status") == "breached" or (
                    responded is None and deadline is not None and now >= deadline
                )
                if responded is None and not breached:
                    open_now[severity] += 1
                    if at_risk_at is not None and now >= at_risk_at:
                        at_risk_now[severity] += 1
                if breached and tid not in self._breached:
                    self._breached.add(tid)
                    if count:
                        self._breaches[severity] += 1
                minutes = v.get("response_business_minutes")
                if responded is not None and minutes is not None and tid not in self._responded:
                    self._responded.add(tid)
                    if count:
                        self._histogram(severity, Decimal(str(minutes)) * 60)
            self._breached &= seen
            self._responded &= seen
            self._primed = True
            return SupportFigures(
                open=open_now,
                at_risk=at_risk_now,
                breaches=dict(self._breaches),
                buckets={s: list(b) for s, b in self._buckets.items()},
                seconds=dict(self._seconds),
            )

    def _histogram(self, severity: str, seconds: Decimal) -> None:
        buckets = self._buckets[severity]
        for i, bound in enumerate(RESPONSE_BUCKETS):
            if seconds <= bound:
                buckets[i] += 1
        buckets[-1] += 1
        self._seconds[severity] += seconds


# -- the collector -----------------------------------------------------------------


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _tiers(statement: Mapping[str, Any]) -> tuple[CreditTier, ...]:
    raw = statement.get("credit_tiers")
    if not raw:
        return DEFAULT_TIERS
    return tuple(
        CreditTier(Decimal(str(t["below"])), Decimal(str(t["credit_percent"]))) for t in raw
    )


@dataclass(frozen=True, slots=True)
class _Figures:
    """The minute counts of one month of a contract or service at ``now``."""

    minutes: int
    elapsed: int
    counted: int
    excluded: int
    no_data: int

    @property
    def up(self) -> int:
        # Future minutes are not up yet: only elapsed minutes are partitioned.
        return max(0, self.elapsed - self.counted - self.excluded - self.no_data)

    def by_state(self) -> dict[str, int]:
        return {
            "up": self.up,
            "counted_down": self.counted,
            "excluded_down": self.excluded,
            "no_data": self.no_data,
        }


def _figures(rec: Mapping[str, Any], first: int, end: int, now_minute: int) -> _Figures:
    counted = _int(rec.get("counted_downtime_minutes"))
    down = _int(rec.get("down_minutes"))
    return _Figures(
        minutes=_int(rec.get("minutes_in_month")),
        elapsed=min(end, max(first, now_minute)) - first,
        counted=counted,
        excluded=max(0, down - counted),
        no_data=_int(rec.get("no_data_minutes")),
    )


def _contract_span(st: Mapping[str, Any]) -> tuple[int, int]:
    return (
        epoch_minute(parse_instant(str(st["period_start"]))),
        epoch_minute(parse_instant(str(st["period_end"]))),
    )


def _service_span(rec: Mapping[str, Any]) -> tuple[int, int]:
    return month_bounds(Month.parse(str(rec["month"])))


def _latest(records: Iterable[Mapping[str, Any]], key: str) -> dict[tuple[str, str], JSON]:
    """The highest revision per (key, month): the protocol promises one, this enforces it."""
    out: dict[tuple[str, str], JSON] = {}
    for rec in records:
        k = (str(rec[key]), str(rec["month"]))
        cur = out.get(k)
        if cur is None or _int(rec.get("revision")) >= _int(cur.get("revision")):
            out[k] = dict(rec)
    return out


def _budget_ratio(budget: int, remaining: int) -> float:
    # A month with a zero budget (a contract in force for < 1000 minutes of it
    # at 99.9 %) has nothing to spend: untouched it is whole (1), otherwise
    # each counted minute is one budget's worth over (-D).
    if budget > 0:
        return remaining / budget
    return 1.0 if remaining >= 0 else float(remaining)


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

    def describe(self) -> Iterable[Metric]:
        """The metric families without samples (the registry checks names with them)."""
        return [_family(name) for name in sorted(METRIC_NAMES)]

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        now_minute = epoch_minute(now)
        yield from self._contracts(now_minute)
        yield from self._services(now_minute)
        yield from self._support(now)
        yield from self._pipeline()

    # -- contracts --

    def _contracts(self, now_minute: int) -> Iterator[Metric]:
        fam = {name: _family(name) for name in _CONTRACT_FAMILIES}
        statements = _latest(self.state.statements(), "contract_id")
        counts: dict[tuple[str, str, str], int] = {}
        revisions: dict[tuple[str, str, str], int] = {}
        by_status = dict.fromkeys(STATUSES, 0)
        for (cid, month), st in sorted(statements.items()):
            first, end = _contract_span(st)
            fig = _figures(st, first, end, now_minute)
            for state, n in fig.by_state().items():
                counts[(cid, month, state)] = n
            revisions[(cid, month, "revision")] = _int(st.get("revision"))
            status = str(st.get("status", "provisional"))
            by_status[status] = by_status.get(status, 0) + 1
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
        fam: dict[str, Metric], cid: str, month: str, st: Mapping[str, Any], fig: _Figures
    ) -> None:
        m, d = fig.minutes, fig.counted
        target = Decimal(str(st.get("uptime_target", "99.9")))
        budget = error_budget(m, target)
        remaining = budget - d
        key = [cid, month]
        _add(fam[CONTRACT_UPTIME_RATIO], key, (m - d) / m if m > 0 else 1.0)
        _add(fam[CONTRACT_UPTIME_TARGET_RATIO], key, float(target / 100))
        _add(fam[CONTRACT_MEETS_TARGET], key, 1 if st.get("meets_target", True) else 0)
        _add(fam[CONTRACT_MONTH_MINUTES], key, m)
        _add(fam[CONTRACT_ELAPSED_MINUTES], key, fig.elapsed)
        for state, n in fig.by_state().items():
            _add(fam[CONTRACT_MINUTES], [*key, state], n)
        excluded = st.get("excluded_minutes") or {}
        for cause, n in sorted(excluded.items()):
            _add(fam[CONTRACT_EXCLUDED_MINUTES], [*key, str(cause)], _int(n))
        _add(fam[CONTRACT_BUDGET_MINUTES], key, budget)
        _add(fam[CONTRACT_BUDGET_REMAINING_MINUTES], key, remaining)
        _add(fam[CONTRACT_BUDGET_REMAINING_RATIO], key, _budget_ratio(budget, remaining))
        for tier in _tiers(st):
            pct = format_decimal(tier.credit_percent)
            _add(
                fam[CONTRACT_TIER_HEADROOM_MINUTES],
                [*key, pct],
                minutes_until_tier(m, d, tier.below),
            )
        _add(
            fam[CONTRACT_CREDIT_RATIO], key, float(Decimal(str(st.get("credit_percent", 0))) / 100)
        )
        _add(
            fam[CONTRACT_CREDIT_AMOUNT],
            [*key, str(st.get("currency", ""))],
            float(Decimal(str(st.get("credit_amount", "0")))),
        )
        _add(fam[CONTRACT_STATEMENT_REVISION], key, _int(st.get("revision")))
        status = str(st.get("status", "provisional"))
        for s in STATUSES:
            _add(fam[CONTRACT_STATEMENT_STATUS], [*key, s], 1 if s == status else 0)

    # -- services --

    def _services(self, now_minute: int) -> Iterator[Metric]:
        fam = {name: _family(name) for name in _SERVICE_FAMILIES}
        records = _latest(self.state.service_months(), "service")
        counts: dict[tuple[str, str, str], int] = {}
        for (service, month), rec in sorted(records.items()):
            first, end = _service_span(rec)
            fig = _figures(rec, first, end, now_minute)
            for state, n in fig.by_state().items():
                counts[(service, month, state)] = n
            if not first <= now_minute < end:
                continue
            m, d = fig.minutes, fig.counted
            budget = error_budget(m, Decimal(str(rec.get("uptime_target", "99.9"))))
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

    def _support(self, now: datetime) -> Iterator[Metric]:
        read = getattr(self.state, "support_outputs", None)
        if read is None:
            return
        verdicts = [o for o in read() if o.get("kind", "ticket_verdict") == "ticket_verdict"]
        fig = self._tickets.observe(verdicts, now)
        fam = {name: _family(name) for name in _SUPPORT_FAMILIES}
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

    def _pipeline(self) -> Iterator[Metric]:
        p = self.state.pipeline()
        fam = {name: _family(name) for name in _PIPELINE_FAMILIES}
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
        loop_lag = fam[EVENT_LOOP_LAG_SECONDS]
        if p.loop_lag_buckets and isinstance(loop_lag, HistogramMetricFamily):
            bounds = [
                ("+Inf" if le == float("inf") else repr(le), float(n))
                for le, n in p.loop_lag_buckets
            ]
            loop_lag.add_metric([], bounds, p.loop_lag_sum)
        yield from fam.values()


_LABELS: dict[str, tuple[str, ...]] = {
    CONTRACT_UPTIME_RATIO: ("contract_id", "month"),
    CONTRACT_UPTIME_TARGET_RATIO: ("contract_id", "month"),
    CONTRACT_MEETS_TARGET: ("contract_id", "month"),
    CONTRACT_MONTH_MINUTES: ("contract_id", "month"),
    CONTRACT_ELAPSED_MINUTES: ("contract_id", "month"),
    CONTRACT_MINUTES: ("contract_id", "month", "state"),
    CONTRACT_EXCLUDED_MINUTES: ("contract_id", "month", "cause"),
    CONTRACT_BUDGET_MINUTES: ("contract_id", "month"),
    CONTRACT_BUDGET_REMAINING_MINUTES: ("contract_id", "month"),
    CONTRACT_BUDGET_REMAINING_RATIO: ("contract_id", "month"),
    CONTRACT_TIER_HEADROOM_MINUTES: ("contract_id", "month", "credit_percent"),
    CONTRACT_CREDIT_RATIO: ("contract_id", "month"),
    CONTRACT_CREDIT_AMOUNT: ("contract_id", "month", "currency"),
    CONTRACT_STATEMENT_REVISION: ("contract_id", "month"),
    CONTRACT_STATEMENT_STATUS: ("contract_id", "month", "status"),
    CONTRACT_MINUTES_TOTAL: ("contract_id", "state"),
    CONTRACT_REVISIONS_TOTAL: ("contract_id",),
    CONTRACT_STATEMENTS: ("status",),
    SERVICE_UPTIME_RATIO: ("service", "month"),
    SERVICE_MONTH_MINUTES: ("service", "month"),
    SERVICE_MINUTES: ("service", "month", "state"),
    SERVICE_BUDGET_MINUTES: ("service", "month"),
    SERVICE_BUDGET_REMAINING_MINUTES: ("service", "month"),
    SERVICE_BUDGET_REMAINING_RATIO: ("service", "month"),
    SERVICE_MINUTES_TOTAL: ("service", "state"),
    SUPPORT_TICKETS_OPEN: ("ticket_severity",),
    SUPPORT_TICKETS_AT_RISK: ("ticket_severity",),
    SUPPORT_BREACHES_TOTAL: ("ticket_severity",),
    SUPPORT_FIRST_RESPONSE_SECONDS: ("ticket_severity",),
    EVENTS_TOTAL: ("type",),
    DEAD_LETTERS_TOTAL: ("reason",),
    LATE_EVENTS_TOTAL: (),
    SINK_ERRORS_TOTAL: ("sink",),
    SINK_ROWS_WRITTEN_TOTAL: ("table",),
    SINK_RETRIES_TOTAL: ("sink",),
    SINK_BATCHES_TOTAL: ("sink",),
    SINK_INSERT_SECONDS_TOTAL: ("sink",),
    CONSUMER_LAG_MESSAGES: ("topic", "partition"),
    LAST_EVENT_TIMESTAMP: (),
    WORKER_DEGRADED: ("reason",),
    EVENT_LOOP_LAG_SECONDS: (),
    UNREADABLE_STATE_TOTAL: (),
}

_CONTRACT_FAMILIES = tuple(n for n in _LABELS if n.startswith("availability_contract_"))
_SERVICE_FAMILIES = tuple(n for n in _LABELS if n.startswith("availability_service_"))
_SUPPORT_FAMILIES = tuple(n for n in _LABELS if n.startswith("availability_support_"))
_PIPELINE_FAMILIES = tuple(
    n
    for n in _LABELS
    if n not in _CONTRACT_FAMILIES and n not in _SERVICE_FAMILIES and n not in _SUPPORT_FAMILIES
)
#: Families exported as histograms (``_bucket``, ``_sum`` and ``_count`` series).
HISTOGRAMS: frozenset[str] = frozenset({SUPPORT_FIRST_RESPONSE_SECONDS, EVENT_LOOP_LAG_SECONDS})
#: The names of the series a scrape holds: the metric names, with each
#: histogram's ``_bucket``, ``_sum`` and ``_count`` in place of its own name.
#: Rules and dashboards select these.
SERIES_NAMES: frozenset[str] = (METRIC_NAMES - HISTOGRAMS) | frozenset(
    f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
)


def _family(name: str) -> Metric:
    labels = list(_LABELS[name])
    if name in HISTOGRAMS:
        return HistogramMetricFamily(name, _HELP[name], labels=labels)
    if name.endswith("_total"):
        return CounterMetricFamily(name, _HELP[name], labels=labels)
    return GaugeMetricFamily(name, _HELP[name], labels=labels)


def _add(family: Metric, labels: list[str], value: float) -> None:
    if isinstance(family, CounterMetricFamily | GaugeMetricFamily):
        family.add_metric(labels, value)


def render(state: PipelineState, clock: WallClock, *, count_history: bool = True) -> bytes:
    """The text exposition of ``state`` at ``clock()`` (a fresh registry each call).

    For one-off views (the offline CLI, tests); a long-running process keeps
    one collector so its counters stay monotonic across scrapes.
    """
    registry = CollectorRegistry(auto_describe=True)
    registry.register(AvailabilityCollector(state, clock, count_history=count_history))
    return generate_latest(registry)


__all__ = [
    "DEGRADED_REASONS",
    "HISTOGRAMS",
    "METRIC_NAMES",
    "MINUTE_STATES",
    "RESPONSE_BUCKETS",
    "SERIES_NAMES",
    "STATUSES",
    "TICKET_SEVERITIES",
    "AvailabilityCollector",
    "FoldCounts",
    "MonotonicTotals",
    "PipelineState",
    "PipelineStats",
    "ReplayLike",
    "ReplayState",
    "SupportFigures",
    "SupportState",
    "TicketTotals",
    "WallClock",
    "render",
]
