"""Wire events to domain values: defaults resolved, text to ``Decimal``/UTC."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from pydantic import BaseModel

from schemas.events import (
    ClaimEvent,
    ContractEvent,
    IncidentEvent,
    TicketOpenedEvent,
    TicketProgressUpdateEvent,
    TicketResolvedEvent,
    TicketRespondedEvent,
    TicketSeverityChangedEvent,
)
from sla import support
from sla.model import (
    DEFAULT_EXCLUDED,
    DEFAULT_TIERS,
    Claim,
    ClaimInterval,
    Contract,
    ContractService,
    CreditBasis,
    CreditTier,
    IncidentStatus,
    IncidentVersion,
    NoDataPolicy,
)
from sla.timeutil import to_utc


def fingerprint(ev: BaseModel) -> bytes:
    """A digest of an event's content: orders two events that reuse one ``event_id``."""
    return hashlib.blake2b(ev.model_dump_json().encode(), digest_size=16).digest()


def incident_version(ev: IncidentEvent) -> IncidentVersion:
    """The incident revision ``ev`` describes.

    ``known_at`` (when the pipeline could first have known this version) is
    ``recorded_at`` when given, else the later of ``started_at`` and
    ``ended_at``: nobody reports an end before it happens.
    """
    started = to_utc(ev.started_at)
    ended = to_utc(ev.ended_at) if ev.ended_at is not None else None
    status = ev.status or (IncidentStatus.RESOLVED if ended else IncidentStatus.OPEN)
    if ev.recorded_at is not None:
        known = to_utc(ev.recorded_at)
    else:
        known = max(started, ended) if ended is not None else started
    return IncidentVersion(
        incident_id=ev.incident_id,
        revision=ev.revision,
        event_id=ev.event_id,
        services=frozenset(ev.services),
        started_at=started,
        ended_at=ended,
        cause=ev.cause,
        impact=ev.impact,
        status=status,
        known_at=known,
        title=ev.title,
        fingerprint=fingerprint(ev),
    )


def contract(ev: ContractEvent) -> Contract:
    """The contract revision ``ev`` describes, with every default filled in."""
    tiers = (
        tuple(CreditTier(Decimal(t.below), Decimal(t.credit_percent)) for t in ev.credit_tiers)
        if ev.credit_tiers is not None
        else DEFAULT_TIERS
    )
    return Contract(
        contract_id=ev.contract_id,
        client_id=ev.client_id,
        revision=ev.revision,
        event_id=ev.event_id,
        services=tuple(ContractService(s.service, Decimal(s.monthly_charge)) for s in ev.services),
        currency=ev.currency,
        timezone=ev.timezone or "UTC",
        uptime_target=Decimal(ev.uptime_target or "99.9"),
        credit_tiers=tiers,
        credit_basis=ev.credit_basis or CreditBasis.PLATFORM,
        excluded_causes=(
            frozenset(ev.excluded_causes) if ev.excluded_causes is not None else DEFAULT_EXCLUDED
        ),
        effective_from=to_utc(ev.effective_from) if ev.effective_from else None,
        effective_to=to_utc(ev.effective_to) if ev.effective_to else None,
        no_data_policy=ev.no_data_policy or NoDataPolicy.UP,
        declared_outage_counts=(
            True if ev.declared_outage_counts is None else ev.declared_outage_counts
        ),
        fingerprint=fingerprint(ev),
    )


def claim(ev: ClaimEvent) -> Claim:
    """The claim ``ev`` records."""
    return Claim(
        claim_id=ev.claim_id,
        event_id=ev.event_id,
        contract_id=ev.contract_id,
        submitted_at=to_utc(ev.submitted_at),
        subject=ev.subject,
        intervals=tuple(ClaimInterval(to_utc(i.start), to_utc(i.end)) for i in ev.incidents),
        contact=ev.contact,
        notes=ev.notes,
        fingerprint=fingerprint(ev),
    )


TicketWire = (
    TicketOpenedEvent
    | TicketSeverityChangedEvent
    | TicketRespondedEvent
    | TicketProgressUpdateEvent
    | TicketResolvedEvent
)


def ticket_event(ev: TicketWire) -> support.TicketEvent:
    """The support-clock event ``ev`` describes (instants in UTC)."""
    if isinstance(ev, TicketOpenedEvent):
        return support.TicketOpened(
            ev.event_id,
            ev.ticket_id,
            ev.client_id,
            to_utc(ev.opened_at),
            ev.severity,
            ev.channel,
            ev.level,
            ev.subject,
        )
    if isinstance(ev, TicketSeverityChangedEvent):
        return support.TicketSeverityChanged(
            ev.event_id, ev.ticket_id, to_utc(ev.changed_at), ev.severity
        )
    if isinstance(ev, TicketRespondedEvent):
        return support.TicketResponded(ev.event_id, ev.ticket_id, to_utc(ev.responded_at), ev.agent)
    if isinstance(ev, TicketProgressUpdateEvent):
        return support.TicketProgressUpdate(ev.event_id, ev.ticket_id, to_utc(ev.updated_at))
    return support.TicketResolved(ev.event_id, ev.ticket_id, to_utc(ev.resolved_at))
