"""The ClickHouse tables the pipeline writes, their columns and the order of writes.

Column lists are defined once, here, in row-tuple (insert) order, and match
the migrations under ``deploy/clickhouse/`` (``tests/sinks/test_row_columns.py``
checks each against ``DESCRIBE TABLE``). :mod:`sinks.rows` maps outputs to
rows of these tables.
"""

from __future__ import annotations

RAW_EVENTS = "raw_events"
MINUTE_STATES = "minute_states"
SERVICE_MONTHS = "service_months"
CONTRACT_MONTHS = "contract_months"
CLAIM_DECISIONS = "claim_decisions"
DEAD_LETTERS = "dead_letters"
TICKET_VERDICTS = "ticket_verdicts"
SUPPORT_MONTHS = "support_months"
TICKET_ALERTS = "ticket_alerts"

#: Column names per table, in row-tuple order (insert order).
COLUMNS: dict[str, tuple[str, ...]] = {
    RAW_EVENTS: (
        "event_id",
        "type",
        "raw",
        "received_at",
        "source_kind",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "file",
        "line",
        "lineage",
    ),
    MINUTE_STATES: ("service", "minute", "state", "cause", "version"),
    SERVICE_MONTHS: (
        "service",
        "month",
        "revision",
        "status",
        "timezone",
        "minutes_in_month",
        "down_minutes",
        "counted_downtime_minutes",
        "excluded_minutes",
        "no_data_minutes",
        "uptime_percent",
        "meets_target",
        "credit_percent",
        "computed_at",
        "version",
        "record",
    ),
    CONTRACT_MONTHS: (
        "contract_id",
        "client_id",
        "month",
        "revision",
        "status",
        "contract_revision",
        "timezone",
        "period_start",
        "period_end",
        "minutes_in_month",
        "down_minutes",
        "counted_downtime_minutes",
        "excluded_minutes",
        "no_data_minutes",
        "uptime_percent",
        "meets_target",
        "credit_percent",
        "credit_basis",
        "affected_services",
        "credit_amount",
        "currency",
        "computed_at",
        "version",
        "statement",
    ),
    CLAIM_DECISIONS: (
        "claim_id",
        "contract_id",
        "client_id",
        "submitted_at",
        "decision",
        "reason",
        "minutes_accepted",
        "credit_total",
        "currency",
        "computed_at",
        "version",
        "decision_json",
    ),
    TICKET_VERDICTS: (
        "ticket_id",
        "client_id",
        "severity",
        "opened_at",
        "deadline",
        "at_risk_at",
        "responded_at",
        "status",
        "policy",
        "response_business_minutes",
        "computed_at",
        "version",
        "verdict",
    ),
    SUPPORT_MONTHS: (
        "client_id",
        "month",
        "severity",
        "met",
        "breached",
        "open",
        "at_risk",
        "responded",
        "p50_business_minutes",
        "p90_business_minutes",
        "p95_business_minutes",
        "computed_at",
        "version",
        "record",
    ),
    TICKET_ALERTS: (
        "ticket_id",
        "alert",
        "client_id",
        "severity",
        "policy",
        "opened_at",
        "deadline",
        "alert_at",
        "computed_at",
        "version",
        "alert_json",
    ),
    DEAD_LETTERS: (
        "dead_letter_id",
        "reason",
        "detail",
        "raw",
        "source_kind",
        "source",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "file",
        "line",
        "raw_size",
        "raw_truncated",
        "raw_sha256",
    ),
}

#: Tables in the order a batch of outputs is written: detail before the
#: statements that summarise it, so a reader never sees a statement whose
#: minutes are not there yet.
#: Support: verdicts and alerts before the monthly rows that count them.
WRITE_ORDER: tuple[str, ...] = (
    MINUTE_STATES,
    SERVICE_MONTHS,
    CONTRACT_MONTHS,
    CLAIM_DECISIONS,
    TICKET_VERDICTS,
    TICKET_ALERTS,
    SUPPORT_MONTHS,
)
