"""Support-ticket events (rulebook section 2), as the support fold reads them.

Re-exported by :mod:`sla.support`, which folds them into verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sla.business_clock import Severity


@dataclass(frozen=True)
class TicketOpened:
    """``ticket_opened`` (rulebook section 2); optional fields kept for callers."""

    event_id: str
    ticket_id: str
    client_id: str
    opened_at: datetime
    severity: Severity
    channel: str = "email"
    level: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class TicketSeverityChanged:
    """``ticket_severity_changed``."""

    event_id: str
    ticket_id: str
    changed_at: datetime
    severity: Severity


@dataclass(frozen=True)
class TicketResponded:
    """``ticket_responded``."""

    event_id: str
    ticket_id: str
    responded_at: datetime
    agent: str | None = None


@dataclass(frozen=True)
class TicketProgressUpdate:
    """``ticket_progress_update``: does not affect the first-response verdict."""

    event_id: str
    ticket_id: str
    updated_at: datetime


@dataclass(frozen=True)
class TicketResolved:
    """``ticket_resolved``: not a response; does not affect the first-response verdict."""

    event_id: str
    ticket_id: str
    resolved_at: datetime


TicketEvent = (
    TicketOpened | TicketSeverityChanged | TicketResponded | TicketProgressUpdate | TicketResolved
)


@dataclass(frozen=True)
class SeverityChange:
    """A severity change at ``changed_at``; ``event_id`` only breaks ties at one instant."""

    changed_at: datetime
    severity: Severity
    event_id: str = ""
