"""The closed set of metric names, the values of the bounded labels, and the series.

Every metric name the pipeline exports is a constant here; the set is closed
(:data:`METRIC_NAMES`), and deploy/prometheus/rules.yml, the Grafana
dashboards and docs/alerting.md use only these names (:data:`SERIES_NAMES`
is what a scrape holds, histograms as their ``_bucket``, ``_sum`` and
``_count`` series).
"""

from __future__ import annotations

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
STATEMENT_DELAY_SECONDS = "availability_statement_delay_seconds"  # histogram
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
#: Families exported as histograms (``_bucket``, ``_sum`` and ``_count`` series).
HISTOGRAMS: frozenset[str] = frozenset(
    {SUPPORT_FIRST_RESPONSE_SECONDS, EVENT_LOOP_LAG_SECONDS, STATEMENT_DELAY_SECONDS}
)
#: The names of the series a scrape holds: the metric names, with each
#: histogram's ``_bucket``, ``_sum`` and ``_count`` in place of its own name.
#: Rules and dashboards select these.
SERIES_NAMES: frozenset[str] = (METRIC_NAMES - HISTOGRAMS) | frozenset(
    f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
)

__all__ = [
    "CONSUMER_LAG_MESSAGES",
    "CONTRACT_BUDGET_MINUTES",
    "CONTRACT_BUDGET_REMAINING_MINUTES",
    "CONTRACT_BUDGET_REMAINING_RATIO",
    "CONTRACT_CREDIT_AMOUNT",
    "CONTRACT_CREDIT_RATIO",
    "CONTRACT_ELAPSED_MINUTES",
    "CONTRACT_EXCLUDED_MINUTES",
    "CONTRACT_MEETS_TARGET",
    "CONTRACT_MINUTES",
    "CONTRACT_MINUTES_TOTAL",
    "CONTRACT_MONTH_MINUTES",
    "CONTRACT_REVISIONS_TOTAL",
    "CONTRACT_STATEMENTS",
    "CONTRACT_STATEMENT_REVISION",
    "CONTRACT_STATEMENT_STATUS",
    "CONTRACT_TIER_HEADROOM_MINUTES",
    "CONTRACT_UPTIME_RATIO",
    "CONTRACT_UPTIME_TARGET_RATIO",
    "DEAD_LETTERS_TOTAL",
    "DEGRADED_REASONS",
    "EVENTS_TOTAL",
    "EVENT_LOOP_LAG_SECONDS",
    "HISTOGRAMS",
    "LAST_EVENT_TIMESTAMP",
    "LATE_EVENTS_TOTAL",
    "METRIC_NAMES",
    "MINUTE_STATES",
    "PREFIX",
    "RESPONSE_BUCKETS",
    "SERIES_NAMES",
    "SERVICE_BUDGET_MINUTES",
    "SERVICE_BUDGET_REMAINING_MINUTES",
    "SERVICE_BUDGET_REMAINING_RATIO",
    "SERVICE_MINUTES",
    "SERVICE_MINUTES_TOTAL",
    "SERVICE_MONTH_MINUTES",
    "SERVICE_UPTIME_RATIO",
    "SINK_BATCHES_TOTAL",
    "SINK_ERRORS_TOTAL",
    "SINK_INSERT_SECONDS_TOTAL",
    "SINK_RETRIES_TOTAL",
    "SINK_ROWS_WRITTEN_TOTAL",
    "STATEMENT_DELAY_SECONDS",
    "STATUSES",
    "SUPPORT_BREACHES_TOTAL",
    "SUPPORT_FIRST_RESPONSE_SECONDS",
    "SUPPORT_TICKETS_AT_RISK",
    "SUPPORT_TICKETS_OPEN",
    "TICKET_SEVERITIES",
    "UNREADABLE_STATE_TOTAL",
    "WORKER_DEGRADED",
]
