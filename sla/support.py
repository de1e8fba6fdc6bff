"""First-response verdicts and monthly support compliance (rulebook section 8).

A pure fold: the verdict of a ticket is a function of the *set* of its events
and of the instant ``as_of`` it is evaluated at. Arrival order and duplicates
(same ``event_id``) do not matter. Nothing here reads the wall clock.

Evaluation at ``as_of``: events stamped after ``as_of`` (a severity change or
a response) are not yet in effect, so a verdict at ``as_of`` is the verdict
the ticket had at that instant, and replaying at a later ``as_of`` never
contradicts an earlier evaluation except by moving forward in time.

This module holds the alerts and the event fold, and is where callers import
from: the events, the verdict of one ticket and the monthly compliance live
in :mod:`sla.support_events`, :mod:`sla.support_verdict` and
:mod:`sla.support_compliance` and are re-exported here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sla.business_clock import BusinessCalendar, Severity, SeverityChangePolicy
from sla.support_compliance import PERCENTILES, ComplianceRow, monthly_compliance, nearest_rank
from sla.support_events import (
    SeverityChange,
    TicketEvent,
    TicketOpened,
    TicketProgressUpdate,
    TicketResolved,
    TicketResponded,
    TicketSeverityChanged,
)
from sla.support_verdict import Status, TicketVerdict, next_timer, ticket_verdict
from sla.timeutil import to_utc

__all__ = [
    "PERCENTILES",
    "AlertKind",
    "ComplianceRow",
    "SeverityChange",
    "Status",
    "TicketAlert",
    "TicketEvent",
    "TicketOpened",
    "TicketProgressUpdate",
    "TicketResolved",
    "TicketResponded",
    "TicketSeverityChanged",
    "TicketVerdict",
    "fold_ticket_events",
    "monthly_compliance",
    "nearest_rank",
    "next_moment",
    "next_ticket_moment",
    "next_timer",
    "ticket_alerts",
    "ticket_verdict",
]


# ------------------------------------------------------------------- alerts

AlertKind = Literal["at_risk", "breached"]


@dataclass(frozen=True)
class TicketAlert:
    """A moment of a ticket that passed without a first response.

    ``alert`` is ``at_risk`` (75 % of the allowed time elapsed, ``at`` is the
    verdict's ``at_risk_at``) or ``breached`` (``at`` is the deadline).
    ``severity`` is the verdict's current severity and ``deadline`` its
    deadline, both as of the evaluation instant ``as_of``.
    """

    ticket_id: str
    client_id: str
    severity: Severity
    policy: SeverityChangePolicy
    alert: AlertKind
    at: datetime
    deadline: datetime
    opened_at: datetime
    as_of: datetime


def ticket_alerts(verdict: TicketVerdict) -> list[TicketAlert]:
    """The alerts of one verdict: at most one per moment, at-risk first.

    A moment ``m`` (``at_risk_at`` or ``deadline``) gives an alert when it
    has passed at the evaluation instant (``m <= as_of``) and the first
    response in effect then did not come by ``m`` (none, or one after
    ``m``). A response at exactly the deadline is met, so it gives no breach
    alert (and one at exactly ``at_risk_at`` no at-risk alert). The breach
    alert is therefore present exactly when the status is ``breached``.

    The alerts are a function of the verdict: evaluated again later they
    are the same (same ``at``) unless a severity change moved the moments,
    in which case they follow the moved moments.
    """
    first = verdict.responded_at
    out: list[TicketAlert] = []
    for kind, moment in (("at_risk", verdict.at_risk_at), ("breached", verdict.deadline)):
        if moment <= verdict.as_of and (first is None or first > moment):
            out.append(
                TicketAlert(
                    ticket_id=verdict.ticket_id,
                    client_id=verdict.client_id,
                    severity=verdict.severity,
                    policy=verdict.policy,
                    alert="at_risk" if kind == "at_risk" else "breached",
                    at=moment,
                    deadline=verdict.deadline,
                    opened_at=verdict.opened_at,
                    as_of=verdict.as_of,
                )
            )
    return out


def next_moment(verdicts: Iterable[TicketVerdict]) -> datetime | None:
    """The earliest :func:`next_timer` of ``verdicts`` (UTC), or None."""
    timers = [t for t in map(next_timer, verdicts) if t is not None]
    return min(timers) if timers else None


def next_ticket_moment(
    events: Iterable[TicketEvent], now: datetime, calendar: BusinessCalendar
) -> datetime | None:
    """When the support outputs next change with no new event arriving (UTC), or None.

    The earliest instant strictly after ``now`` at which a ticket without a
    first response (as of ``now``) becomes at risk or breached, or at which
    an event already received but stamped after ``now`` takes effect. None
    when every ticket is met or breached and nothing is pending.

    Pure: a streaming caller schedules a re-evaluation (the outputs as of
    the returned instant) at that instant, and asks again after it. The
    events are those of :func:`fold_ticket_events` (any order, duplicates
    allowed).
    """
    return next_moment(fold_ticket_events(events, now, calendar).values())


# --------------------------------------------------------------- event fold


def fold_ticket_events(
    events: Iterable[TicketEvent], as_of: datetime, calendar: BusinessCalendar
) -> dict[str, TicketVerdict]:
    """Verdicts of every ticket with a ``ticket_opened``, keyed by ``ticket_id``.

    Events are deduplicated by ``event_id`` (if two different payloads share an
    id, the one with the smallest ``repr`` is kept, so the result does not
    depend on arrival order). A ticket with several ``ticket_opened`` events
    uses the earliest ``opened_at`` (ties: smallest ``event_id``). Tickets
    without a ``ticket_opened`` are left out until it arrives.
    """
    by_id: dict[str, TicketEvent] = {}
    for event in events:
        kept = by_id.get(event.event_id)
        if kept is None or repr(event) < repr(kept):
            by_id[event.event_id] = event

    opened: dict[str, TicketOpened] = {}
    changes: defaultdict[str, list[SeverityChange]] = defaultdict(list)
    responses: defaultdict[str, list[datetime]] = defaultdict(list)
    for event in by_id.values():
        if isinstance(event, TicketOpened):
            kept_open = opened.get(event.ticket_id)
            key = (to_utc(event.opened_at), event.event_id)
            if kept_open is None or key < (to_utc(kept_open.opened_at), kept_open.event_id):
                opened[event.ticket_id] = event
        elif isinstance(event, TicketSeverityChanged):
            changes[event.ticket_id].append(
                SeverityChange(event.changed_at, event.severity, event.event_id)
            )
        elif isinstance(event, TicketResponded):
            responses[event.ticket_id].append(event.responded_at)

    return {
        ticket_id: ticket_verdict(
            opened_event, changes[ticket_id], responses[ticket_id], as_of, calendar
        )
        for ticket_id, opened_event in sorted(opened.items())
    }
