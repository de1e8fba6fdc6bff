"""Domain values the rules work on (resolved, defaults applied).

The wire models in ``schemas`` are decoded into these; the core never sees
JSON. All instants are timezone-aware UTC datetimes; money is ``Decimal``.

:data:`JSON`, a decoded JSON object (an output, a row's source, a report
record), is declared here once: every layer may import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

#: A decoded JSON object, as outputs, rows and reports pass it around.
JSON = dict[str, Any]


class Cause(StrEnum):
    INTERNAL = "internal"
    AWS = "aws"
    FORCE_MAJEURE = "force_majeure"
    THIRD_PARTY = "third_party"
    MAINTENANCE = "maintenance"


#: Reporting precedence of excluded causes (SPEC section 4), first wins.
CAUSE_PRECEDENCE: tuple[Cause, ...] = (
    Cause.FORCE_MAJEURE,
    Cause.AWS,
    Cause.THIRD_PARTY,
    Cause.MAINTENANCE,
    Cause.INTERNAL,
)


class Impact(StrEnum):
    OUTAGE = "outage"
    DEGRADED = "degraded"
    NONE = "none"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    RETRACTED = "retracted"


class CreditBasis(StrEnum):
    PLATFORM = "platform"
    PER_SERVICE = "per_service"


class NoDataPolicy(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class IncidentVersion:
    """One revision of an incident. The highest ``(revision, event_id)`` wins."""

    incident_id: str
    revision: int
    event_id: str
    services: frozenset[str]
    started_at: datetime
    ended_at: datetime | None
    cause: Cause
    impact: Impact
    status: IncidentStatus
    known_at: datetime
    title: str | None = None
    fingerprint: bytes = b""

    @property
    def rank(self) -> tuple[int, bytes, bytes]:
        """Upsert order: revision, then ``event_id`` bytes, then content (reused ids)."""
        return (self.revision, self.event_id.encode(), self.fingerprint)


@dataclass(frozen=True, slots=True)
class CreditTier:
    """``credit_percent`` applies when uptime percent is strictly below ``below``."""

    below: Decimal
    credit_percent: Decimal


DEFAULT_TIERS: tuple[CreditTier, ...] = (
    CreditTier(Decimal("99.9"), Decimal("10")),
    CreditTier(Decimal("99.0"), Decimal("30")),
)
DEFAULT_EXCLUDED: frozenset[Cause] = frozenset({Cause.AWS, Cause.FORCE_MAJEURE})


@dataclass(frozen=True, slots=True)
class ContractService:
    service: str
    monthly_charge: Decimal


@dataclass(frozen=True, slots=True)
class Contract:
    """One revision of a contract (a Purchase Order) with every default resolved."""

    contract_id: str
    client_id: str
    revision: int
    event_id: str
    services: tuple[ContractService, ...]
    currency: str
    timezone: str = "UTC"
    uptime_target: Decimal = Decimal("99.9")
    credit_tiers: tuple[CreditTier, ...] = DEFAULT_TIERS
    credit_basis: CreditBasis = CreditBasis.PLATFORM
    excluded_causes: frozenset[Cause] = DEFAULT_EXCLUDED
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    no_data_policy: NoDataPolicy = NoDataPolicy.UP
    declared_outage_counts: bool = True
    fingerprint: bytes = b""
    #: the services' names, in the order of ``services`` (asked for by every
    #: statement of every pass: made once per revision)
    service_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "service_names", tuple(s.service for s in self.services))

    @property
    def rank(self) -> tuple[int, bytes, bytes]:
        """Upsert order: revision, then ``event_id`` bytes, then content (reused ids)."""
        return (self.revision, self.event_id.encode(), self.fingerprint)

    def charge(self, service: str) -> Decimal:
        for s in self.services:
            if s.service == service:
                return s.monthly_charge
        raise KeyError(service)


@dataclass(frozen=True, slots=True)
class ClaimInterval:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """An "SLA Credit Request" as it arrived."""

    claim_id: str
    event_id: str
    contract_id: str
    submitted_at: datetime
    subject: str
    intervals: tuple[ClaimInterval, ...]
    contact: str | None = None
    notes: str | None = None
    fingerprint: bytes = b""

    @property
    def rank(self) -> tuple[datetime, bytes, bytes]:
        """Latest submission wins, then ``event_id`` bytes, then content (reused ids)."""
        return (self.submitted_at, self.event_id.encode(), self.fingerprint)
