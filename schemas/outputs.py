"""Wire models of the outputs: what billing, dashboards and reports consume.

These mirror the dicts the core renders (SPEC sections 6, 7 and 10) and are
strict in both directions (``extra="forbid"``): a test validates every
output of a replay against them, and the JSON Schema files under
``schemas/json/`` are exported from them for downstream consumers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Percent = Annotated[str, Field(pattern=r"^[0-9]{1,3}\.[0-9]{4}$", description="floored to 4 dp")]
DecimalText = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
Instant = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")]
MonthText = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Minutes = Annotated[int, Field(ge=0)]
Status = Literal["provisional", "final", "revised"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class DowntimePeriod(_Out):
    """A maximal run of counted-down (or excluded) minutes of one service."""

    service: str
    start: Instant
    end: Instant
    duration_minutes: Annotated[int, Field(ge=1)]
    causes: list[str]
    incident_ids: list[str]
    excluded_cause: str | None = None


class ServiceFigures(_Out):
    """One service inside a contract-month statement."""

    monthly_charge: DecimalText
    up_minutes: Minutes
    down_minutes: Minutes
    counted_downtime_minutes: Minutes
    excluded_minutes: dict[str, Minutes]
    no_data_minutes: Minutes
    uptime_percent: Percent
    coverage_percent: Percent = Field(
        description="elapsed minutes of the service with data, floored to 4 dp"
    )
    meets_target: bool
    credit_percent: DecimalText
    credit_amount: DecimalText = Field(description="exact, before the once-per-contract rounding")
    no_data_periods: list[tuple[Instant, Instant]] = Field(
        description="runs [start, end) of elapsed minutes without data"
    )


class Reading(_Out):
    """The statement recomputed under one alternative reading (SPEC section 9)."""

    reading: str
    description: str
    uptime_percent: Percent
    counted_downtime_minutes: Minutes
    credit_percent: DecimalText
    credit_amount: DecimalText
    difference: DecimalText
    differs: bool


class CreditTierOut(_Out):
    below: DecimalText
    credit_percent: DecimalText


class IncidentNote(_Out):
    """An incident behind a statement's periods, as known when it was computed."""

    incident_id: str
    title: str | None
    cause: str
    impact: str
    status: Literal["open", "resolved", "retracted"]
    started_at: Instant
    ended_at: Instant | None


class ContractMonthStatement(_Out):
    """Billing's input: one contract (Purchase Order), one month, one revision."""

    kind: Literal["contract_month"]
    contract_id: str
    client_id: str
    contract_revision: Minutes
    month: MonthText
    timezone: str
    period_start: Instant
    period_end: Instant
    minutes_in_month: Minutes
    up_minutes: Minutes
    down_minutes: Minutes
    counted_downtime_minutes: Minutes
    excluded_minutes: dict[str, Minutes]
    no_data_minutes: Minutes
    elapsed_minutes: Minutes = Field(description="minutes of the month begun by computed_at")
    remaining_minutes: Minutes = Field(description="minutes of the month still to come")
    data_minutes: Minutes = Field(
        description="elapsed minutes in which every service had data or a declared outage"
    )
    coverage_percent: Percent = Field(
        description="data_minutes / elapsed_minutes, floored to 4 dp (0 when nothing elapsed)"
    )
    uptime_percent: Percent
    uptime_target: DecimalText
    credit_tiers: list[CreditTierOut]
    meets_target: bool
    error_budget_minutes: Minutes
    error_budget_remaining_minutes: int
    credit_percent: DecimalText
    credit_basis: Literal["platform", "per_service"]
    excluded_causes: list[str]
    no_data_policy: Literal["up", "down"]
    declared_outage_counts: bool
    affected_services: list[str]
    credit_amount: DecimalText
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    downtime_incidents: list[DowntimePeriod]
    excluded_periods: list[DowntimePeriod]
    incidents: list[IncidentNote] = Field(default_factory=list)
    services: dict[str, ServiceFigures]
    readings: list[Reading] = Field(default_factory=list)
    status: Status
    revision: Minutes
    finalizes_at: Instant
    computed_at: Instant


class ExcludedInterval(_Out):
    start: Instant
    end: Instant
    cause: str


class MinuteIntervals(_Out):
    counted: list[tuple[Instant, Instant]]
    excluded: list[ExcludedInterval]
    no_data: list[tuple[Instant, Instant]]


class ServiceMonthRecord(_Out):
    """One service, one UTC month, under the default terms."""

    kind: Literal["service_month"]
    service: str
    month: MonthText
    timezone: Literal["UTC"]
    minutes_in_month: Minutes
    elapsed_minutes: Minutes
    remaining_minutes: Minutes
    up_minutes: Minutes
    down_minutes: Minutes
    counted_downtime_minutes: Minutes
    excluded_minutes: dict[str, Minutes]
    no_data_minutes: Minutes
    uptime_percent: Percent
    coverage_percent: Percent
    meets_target: bool
    credit_percent: DecimalText
    error_budget_minutes: Minutes
    error_budget_remaining_minutes: int
    downtime_incidents: list[DowntimePeriod]
    intervals: MinuteIntervals
    status: Status
    revision: Minutes
    finalizes_at: Instant
    computed_at: Instant


class IntervalVerdict(_Out):
    start: Instant
    end: Instant
    rounded_start: Instant
    rounded_end: Instant
    verdict: Literal["accepted", "rejected"]
    reason: Literal["out_of_window", "no_matching_downtime"] | None
    minutes_accepted: Minutes


class MonthCredit(_Out):
    month: MonthText
    claimed_counted_minutes: Minutes
    uptime_percent: Percent
    credit_percent: DecimalText
    credit_amount: DecimalText


class ClaimDecision(_Out):
    """The decision on one "SLA Credit Request" (SPEC section 7).

    ``revision`` starts at 0 and goes up only when the decision's content
    changes; consumers keep the highest revision of each ``claim_id``.
    """

    kind: Literal["claim_decision"]
    claim_id: str
    contract_id: str
    client_id: str | None
    submitted_at: Instant
    decision: Literal["accepted", "rejected"]
    reason: Literal["unknown_contract", "bad_subject", "no_accepted_interval"] | None
    intervals: list[IntervalVerdict]
    minutes_accepted: Minutes
    credits: list[MonthCredit]
    credit_total: DecimalText | None
    currency: str | None
    computed_at: Instant
    revision: Minutes


class DeadLetterSource(_Out):
    file: str | None = None
    line: int | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


class DeadLetterRecord(_Out):
    """A rejected input (SPEC section 10); one always fits a Kafka message.

    ``raw_base64`` holds at most the first 256 KiB of the raw bytes;
    ``raw_truncated`` says when that is less than the whole, whose length and
    SHA-256 are ``raw_size`` and ``raw_sha256`` either way.
    """

    kind: Literal["dead_letter"]
    reason: str
    detail: Annotated[str, Field(max_length=4096)]
    source: DeadLetterSource
    raw_base64: Annotated[
        str, Field(max_length=349_528, description="base64 of the first 262,144 raw bytes at most")
    ]
    raw_preview: Annotated[str, Field(max_length=512)]
    raw_size: Annotated[int, Field(ge=0, description="bytes in the whole raw input")]
    raw_truncated: Annotated[bool, Field(description="raw_base64 holds only the first raw bytes")]
    raw_sha256: Annotated[
        str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the whole raw input, hex")
    ]


MinutesText = Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]{2}$")]


class TicketVerdictRecord(_Out):
    """First-response verdict of one support ticket (SPEC section 8)."""

    kind: Literal["ticket_verdict"]
    ticket_id: str
    client_id: str
    severity: Literal["low", "medium", "high"]
    opened_at: Instant
    deadline: Instant
    at_risk_at: Instant
    responded_at: Instant | None
    status: Literal["met", "breached", "at_risk", "open"]
    policy: Literal["retroactive", "from_change", "carry_elapsed"]
    response_business_minutes: MinutesText | None
    computed_at: Instant


class SupportMonthRecord(_Out):
    """Monthly first-response compliance of one client and severity."""

    kind: Literal["support_month"]
    client_id: str
    month: MonthText
    severity: Literal["low", "medium", "high"]
    met: Minutes
    breached: Minutes
    open: Minutes
    at_risk: Minutes
    responded: Minutes
    p50_business_minutes: MinutesText | None
    p90_business_minutes: MinutesText | None
    p95_business_minutes: MinutesText | None
    computed_at: Instant


class TicketAlertRecord(_Out):
    """A first-response moment a ticket passed without a response (SPEC section 8).

    One per ticket and ``alert``: ``at_risk`` when 75 % of the allowed time
    elapsed (``at`` is that instant), ``breached`` when the deadline passed
    (``at`` is the deadline). A response at exactly the deadline is met and
    gives no ``breached`` alert. Keyed ``ticket_id|alert``.
    """

    kind: Literal["ticket_alert"]
    alert: Literal["at_risk", "breached"]
    ticket_id: str
    client_id: str
    severity: Literal["low", "medium", "high"]
    policy: Literal["retroactive", "from_change", "carry_elapsed"]
    opened_at: Instant
    deadline: Instant
    at: Instant
    computed_at: Instant


#: Every output kind, mapped to its model (a closed set).
OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "contract_month": ContractMonthStatement,
    "service_month": ServiceMonthRecord,
    "claim_decision": ClaimDecision,
    "dead_letter": DeadLetterRecord,
    "ticket_verdict": TicketVerdictRecord,
    "ticket_alert": TicketAlertRecord,
    "support_month": SupportMonthRecord,
}
