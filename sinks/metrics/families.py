"""How each metric name is exported: its help text, its labels and its type.

A name ending in ``_total`` is a counter, one in :data:`HISTOGRAMS` a
histogram, every other a gauge. The collector builds a fresh family per name
for :meth:`describe` (:func:`_family`); a scrape fills the families of
:func:`sinks.metrics.exposition.scrape_family`.
"""

from __future__ import annotations

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
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
    EVENT_LOOP_LAG_SECONDS,
    EVENTS_TOTAL,
    HISTOGRAMS,
    LAST_EVENT_TIMESTAMP,
    LATE_EVENTS_TOTAL,
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
    SUPPORT_BREACHES_TOTAL,
    SUPPORT_FIRST_RESPONSE_SECONDS,
    SUPPORT_TICKETS_AT_RISK,
    SUPPORT_TICKETS_OPEN,
    UNREADABLE_STATE_TOTAL,
    WORKER_DEGRADED,
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
    STATEMENT_DELAY_SECONDS: (
        "Per statement-stage cycle that took in new inputs: seconds from the first of them "
        "being folded to the publication of the last statement change they made."
    ),
}

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
    STATEMENT_DELAY_SECONDS: (),
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


def _family(name: str) -> Metric:
    labels = list(_LABELS[name])
    if name in HISTOGRAMS:
        return HistogramMetricFamily(name, _HELP[name], labels=labels)
    if name.endswith("_total"):
        return CounterMetricFamily(name, _HELP[name], labels=labels)
    return GaugeMetricFamily(name, _HELP[name], labels=labels)
