"""Wire models of the input events (SPEC section 2).

Frozen, strict pydantic models: a string ``"no"`` is not a boolean, a JSON
number is not money, a timestamp without an offset or outside the accepted
range (:data:`Instant`) is rejected. Unknown
fields are ignored. :data:`EVENT_ADAPTER` validates any event by its
``type`` discriminator; :mod:`schemas.codec` turns failures into dead letters.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Final, Literal, Protocol, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sla.model import Cause, CreditBasis, Impact, IncidentStatus, NoDataPolicy
from sla.timeutil import END_INSTANT, FIRST_INSTANT, format_instant, in_range

# The bounds of the wire model, written once: the pydantic types below, the
# edge's ProbeRecord and the bulk probe decoder (schemas.fastprobe) are built
# from them, and tests/unit/schemas/test_fastprobe_bounds.py holds the decoders to
# the model.

#: The characters of an id, service or region (a regex character class).
IDENT_CHARS: Final = "A-Za-z0-9._:/-"
IDENT_MIN_LENGTH: Final = 1
IDENT_MAX_LENGTH: Final = 128
#: Free text fields are capped at 4 KiB (SPEC section 10).
TEXT_MAX_LENGTH: Final = 4096
LATENCY_MS_MIN: Final = 0
STATUS_CODE_MIN: Final = 0
STATUS_CODE_MAX: Final = 999
#: A probe's ``type`` discriminator.
ProbeType = Literal["probe"]

#: Ids, services and regions: 1-128 chars of letters, digits and ``._:/-``.
Ident = Annotated[
    str,
    StringConstraints(
        min_length=IDENT_MIN_LENGTH, max_length=IDENT_MAX_LENGTH, pattern=f"^[{IDENT_CHARS}]+$"
    ),
]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX_LENGTH)]
LatencyMs = Annotated[float, Field(ge=LATENCY_MS_MIN)]
StatusCode = Annotated[int, Field(ge=STATUS_CODE_MIN, le=STATUS_CODE_MAX)]


#: the accepted range's bounds, as its error and description name them
_FIRST_TEXT: Final = format_instant(FIRST_INSTANT)
_END_TEXT: Final = format_instant(END_INSTANT)


def _in_range(dt: datetime) -> datetime:
    if not in_range(dt):
        raise PydanticCustomError(
            "out_of_range",
            "instant is outside the accepted range [{first}, {end})",
            {"first": _FIRST_TEXT, "end": _END_TEXT},
        )
    return dt


#: An instant: RFC 3339 with an explicit offset, in ``[1970-01-01T00:00:00Z,
#: 2200-01-01T00:00:00Z)`` (SPEC section 10: outside it, reason ``out_of_range``).
Instant = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    Field(
        description=(
            f"RFC 3339 with an explicit offset; from {_FIRST_TEXT} (inclusive) "
            f"to {_END_TEXT} (exclusive) once converted to UTC"
        )
    ),
]
#: Money and percentages travel as decimal strings, never floats.
DecimalText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,15}(\.[0-9]{1,9})?$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Revision = Annotated[int, Field(ge=0, le=2**53)]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    event_id: Ident


class ProbeEvent(_Event):
    """One probe result: ``ok`` is whether the check passed."""

    type: ProbeType
    service: Ident
    region: Ident
    observed_at: Instant
    ok: bool
    latency_ms: LatencyMs | None = None
    status_code: StatusCode | None = None
    error: Text | None = None


class IncidentEvent(_Event):
    """One revision of an incident report; the highest revision wins."""

    type: Literal["incident"]
    incident_id: Ident
    revision: Revision
    services: Annotated[list[Ident], Field(min_length=1, max_length=1000)]
    started_at: Instant
    ended_at: Instant | None = None
    cause: Cause
    impact: Impact
    status: IncidentStatus | None = None
    title: Text | None = None
    recorded_at: Instant | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class CreditTierWire(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    below: DecimalText
    credit_percent: DecimalText

    @field_validator("below", "credit_percent")
    @classmethod
    def _percent(cls, v: str) -> str:
        if Decimal(v) > 100:
            raise ValueError("a percentage cannot exceed 100")
        return v


class ContractServiceWire(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    service: Ident
    monthly_charge: DecimalText


class ContractEvent(_Event):
    """One revision of a contract (Purchase Order)."""

    type: Literal["contract"]
    contract_id: Ident
    client_id: Ident
    revision: Revision
    services: Annotated[list[ContractServiceWire], Field(min_length=1, max_length=1000)]
    currency: Currency
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    uptime_target: DecimalText | None = None
    credit_tiers: Annotated[list[CreditTierWire], Field(max_length=20)] | None = None
    credit_basis: CreditBasis | None = None
    excluded_causes: Annotated[list[Cause], Field(max_length=5)] | None = None
    effective_from: Instant | None = None
    effective_to: Instant | None = None
    no_data_policy: NoDataPolicy | None = None
    declared_outage_counts: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [s.service for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError("a service is listed twice")
        if self.timezone is not None:
            from sla.months import zone

            zone(self.timezone)
        if self.uptime_target is not None and not 0 < Decimal(self.uptime_target) <= 100:
            raise ValueError("uptime_target must be in (0, 100]")
        if (
            self.effective_from is not None
            and self.effective_to is not None
            and self.effective_to <= self.effective_from
        ):
            raise ValueError("effective_to is not after effective_from")
        return self


class ClaimIntervalWire(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    start: Instant
    end: Instant

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError("claimed interval ends before it starts")
        return self


class ClaimEvent(_Event):
    """An "SLA Credit Request" as received."""

    type: Literal["claim"]
    claim_id: Ident
    contract_id: Ident
    submitted_at: Instant
    subject: Text
    incidents: Annotated[list[ClaimIntervalWire], Field(min_length=1, max_length=1000)]
    contact: Text | None = None
    notes: Text | None = None


Severity = Literal["low", "medium", "high"]


class TicketOpenedEvent(_Event):
    type: Literal["ticket_opened"]
    ticket_id: Ident
    client_id: Ident
    opened_at: Instant
    severity: Severity
    channel: Literal["email", "phone"]
    level: Literal["L1", "L2", "L3"] | None = None
    subject: Text | None = None


class TicketSeverityChangedEvent(_Event):
    type: Literal["ticket_severity_changed"]
    ticket_id: Ident
    changed_at: Instant
    severity: Severity


class TicketRespondedEvent(_Event):
    type: Literal["ticket_responded"]
    ticket_id: Ident
    responded_at: Instant
    agent: Text | None = None


class TicketProgressUpdateEvent(_Event):
    type: Literal["ticket_progress_update"]
    ticket_id: Ident
    updated_at: Instant


class TicketResolvedEvent(_Event):
    type: Literal["ticket_resolved"]
    ticket_id: Ident
    resolved_at: Instant


Event = Annotated[
    ProbeEvent
    | IncidentEvent
    | ContractEvent
    | ClaimEvent
    | TicketOpenedEvent
    | TicketSeverityChangedEvent
    | TicketRespondedEvent
    | TicketProgressUpdateEvent
    | TicketResolvedEvent,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

#: Every event type, mapped to its model (a closed set).
EVENT_MODELS: dict[str, type[BaseModel]] = {
    "probe": ProbeEvent,
    "incident": IncidentEvent,
    "contract": ContractEvent,
    "claim": ClaimEvent,
    "ticket_opened": TicketOpenedEvent,
    "ticket_severity_changed": TicketSeverityChangedEvent,
    "ticket_responded": TicketRespondedEvent,
    "ticket_progress_update": TicketProgressUpdateEvent,
    "ticket_resolved": TicketResolvedEvent,
}


class Revisioned(Protocol):
    """An upserted event (incident or contract): ordered by ``revision``, then ``event_id``."""

    @property
    def revision(self) -> int: ...

    @property
    def event_id(self) -> str: ...


R = TypeVar("R", bound=Revisioned)


def latest(history: Iterable[R]) -> R | None:
    """The winning revision: highest ``revision``, then the larger ``event_id`` bytes."""
    return max(history, key=lambda e: (e.revision, e.event_id.encode()), default=None)


__all__ = [
    "EVENT_ADAPTER",
    "EVENT_MODELS",
    "ClaimEvent",
    "ContractEvent",
    "Event",
    "IncidentEvent",
    "ProbeEvent",
    "Revisioned",
    "datetime",
    "latest",
]
