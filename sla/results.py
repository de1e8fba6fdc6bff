"""The outputs readers take figures from, as typed values: statements, records, verdicts.

Contract-month statements, service-month records and support tickets'
first-response verdicts.

Each class is frozen and mirrors its output's wire form field for field, in
the wire's order, with the types the figures have: minutes as ``int``,
money and percentages as :class:`~decimal.Decimal`, instants as aware UTC
:class:`~datetime.datetime`. So

- :func:`read_contract_month` and :func:`read_service_month` are the one
  place an output's text becomes numbers: a reader (the sinks, reports)
  takes typed figures from them instead of parsing strings itself; and
- :func:`render` writes a value back as the very text the core published
  (``tests/unit/sla/test_results.py`` holds that on every output of a
  replay), so these classes are the whole of the two outputs, not a view.

A value that is not an output of its kind (a missing field, a word where a
figure belongs, a negative count of minutes, a ``NaN``, an instant without
its zone) raises :class:`ResultError`. The read is exact but not pedantic:
a JSON number where the wire writes decimal text is read as the decimal its
digits write (msgspec never goes through a binary float), and an instant
with another UTC offset as the same instant. Holding producers to the text
form is the output schemas' job (:mod:`schemas.outputs`, from which the
JSON Schema files are exported; they admit the same outputs).

Reading runs in msgspec's C code but for the finiteness check of each
part with figures (``bench/bench_results.py`` measures both directions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from sla.model import CreditTier

Minutes = Annotated[int, msgspec.Meta(ge=0)]
MonthText = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Status = Literal["provisional", "final", "revised"]


class ResultError(ValueError):
    """A value that is not the wire form of a month output."""


#: an instant of the wire: aware (the wire writes UTC with a ``Z``)
Instant = Annotated[datetime, msgspec.Meta(tz=True)]
Span = tuple[Instant, Instant]


class _Figures(msgspec.Struct, frozen=True):
    """A value with decimal figures: each is finite (no ``NaN``, no ``Infinity``)."""

    def __post_init__(self) -> None:
        for name in _DECIMALS[type(self)]:
            value = getattr(self, name)
            if value is not None and not value.is_finite():
                raise ValueError(f"{name} is not a finite decimal")


class Period(msgspec.Struct, frozen=True, omit_defaults=True):
    """A maximal run of counted-down (or excluded) minutes of one service."""

    service: str
    start: Instant
    end: Instant
    duration_minutes: Minutes
    causes: tuple[str, ...]
    incident_ids: tuple[str, ...]
    #: only on an excluded period: the cause that excluded it
    excluded_cause: str | None = None


class Tier(_Figures, frozen=True):
    """A credit tier as the statement states it: below this uptime, this credit."""

    below: Decimal
    credit_percent: Decimal

    def credit_tier(self) -> CreditTier:
        return CreditTier(self.below, self.credit_percent)


class ServiceFigures(_Figures, frozen=True):
    """One service inside a contract-month statement."""

    monthly_charge: Decimal
    up_minutes: Minutes
    down_minutes: Minutes
    counted_downtime_minutes: Minutes
    excluded_minutes: dict[str, Minutes]
    no_data_minutes: Minutes
    uptime_percent: Decimal
    coverage_percent: Decimal
    meets_target: bool
    credit_percent: Decimal
    #: exact, before the once-per-contract rounding
    credit_amount: Decimal
    no_data_periods: tuple[Span, ...]


class Reading(_Figures, frozen=True):
    """The statement recomputed under one alternative reading (SPEC section 9)."""

    reading: str
    description: str
    uptime_percent: Decimal
    counted_downtime_minutes: Minutes
    credit_percent: Decimal
    credit_amount: Decimal
    difference: Decimal
    differs: bool


class IncidentNote(msgspec.Struct, frozen=True):
    """An incident behind a statement's periods, as known when it was computed."""

    incident_id: str
    title: str | None
    cause: str
    impact: str
    status: Literal["open", "resolved", "retracted"]
    started_at: Instant
    ended_at: Instant | None


class ContractMonth(_Figures, frozen=True):
    """A contract-month statement: one contract (Purchase Order), one month, one revision."""

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
    elapsed_minutes: Minutes
    remaining_minutes: Minutes
    data_minutes: Minutes
    coverage_percent: Decimal
    uptime_percent: Decimal
    uptime_target: Decimal
    credit_tiers: tuple[Tier, ...]
    meets_target: bool
    error_budget_minutes: Minutes
    error_budget_remaining_minutes: int
    credit_percent: Decimal
    credit_basis: Literal["platform", "per_service"]
    excluded_causes: tuple[str, ...]
    no_data_policy: Literal["up", "down"]
    declared_outage_counts: bool
    affected_services: tuple[str, ...]
    credit_amount: Decimal
    currency: str
    downtime_incidents: tuple[Period, ...]
    excluded_periods: tuple[Period, ...]
    services: dict[str, ServiceFigures]
    readings: tuple[Reading, ...]
    status: Status
    revision: Minutes
    finalizes_at: Instant
    computed_at: Instant
    incidents: tuple[IncidentNote, ...]

    def tiers(self) -> tuple[CreditTier, ...]:
        """The credit tiers the statement applied, as the core's tiers."""
        return tuple(t.credit_tier() for t in self.credit_tiers)


class ExcludedInterval(msgspec.Struct, frozen=True):
    start: Instant
    end: Instant
    cause: str


class Intervals(msgspec.Struct, frozen=True):
    """A service-month's minutes as runs: counted down, excluded, without data."""

    counted: tuple[Span, ...]
    excluded: tuple[ExcludedInterval, ...]
    no_data: tuple[Span, ...]


class ServiceMonth(_Figures, frozen=True):
    """A service-month record: one service, one UTC month, under the default terms."""

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
    uptime_percent: Decimal
    coverage_percent: Decimal
    meets_target: bool
    credit_percent: Decimal
    error_budget_minutes: Minutes
    error_budget_remaining_minutes: int
    downtime_incidents: tuple[Period, ...]
    intervals: Intervals
    status: Status
    revision: Minutes
    finalizes_at: Instant
    computed_at: Instant


class TicketVerdict(_Figures, frozen=True):
    """A support ticket's first-response verdict (SPEC section 8), as of ``computed_at``."""

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
    #: business minutes to the first response (two decimals), once there is one
    response_business_minutes: Decimal | None
    computed_at: Instant

    def __post_init__(self) -> None:
        super().__post_init__()
        minutes = self.response_business_minutes
        if minutes is not None and minutes < 0:
            raise ValueError("response_business_minutes is negative")


Result = ContractMonth | ServiceMonth | TicketVerdict
R = TypeVar("R", ContractMonth, ServiceMonth, TicketVerdict)

#: the decimal fields of each class with figures, checked by ``_Figures.__post_init__``
_DECIMALS: Final[dict[type[_Figures], tuple[str, ...]]] = {
    cls: tuple(f.name for f in msgspec.structs.fields(cls) if f.type in (Decimal, Decimal | None))
    for cls in (Tier, ServiceFigures, Reading, ContractMonth, ServiceMonth, TicketVerdict)
}
_ENCODER: Final = msgspec.json.Encoder()
_DECODERS: Final[dict[type[Result], msgspec.json.Decoder[Any]]] = {
    ContractMonth: msgspec.json.Decoder(ContractMonth),
    ServiceMonth: msgspec.json.Decoder(ServiceMonth),
    TicketVerdict: msgspec.json.Decoder(TicketVerdict),
}


def _read(kind: type[R], out: Mapping[str, Any] | bytes | str) -> R:
    try:
        if isinstance(out, bytes | str):
            value: R = _DECODERS[kind].decode(out)
        else:
            value = msgspec.convert(out, kind)
    except msgspec.ValidationError as exc:
        raise ResultError(f"not a {kind.__name__} output: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ResultError(f"not JSON: {exc}") from None
    return value


def read_contract_month(out: Mapping[str, Any] | bytes | str) -> ContractMonth:
    """A contract-month statement (its dict, or its JSON text) as typed figures."""
    return _read(ContractMonth, out)


def read_service_month(out: Mapping[str, Any] | bytes | str) -> ServiceMonth:
    """A service-month record (its dict, or its JSON text) as typed figures."""
    return _read(ServiceMonth, out)


def read_ticket_verdict(out: Mapping[str, Any] | bytes | str) -> TicketVerdict:
    """A ticket's first-response verdict (its dict, or its JSON text) as typed values."""
    return _read(TicketVerdict, out)


def render(result: Result) -> str:
    """The output's JSON text, the very text :func:`schemas.codec.dumps_output` gives it."""
    return _ENCODER.encode(result).decode()
