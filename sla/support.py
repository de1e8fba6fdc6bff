"""First-response verdicts and monthly support compliance (rulebook section 8).

A pure fold: the verdict of a ticket is a function of the *set* of its events
and of the instant ``as_of`` it is evaluated at. Arrival order and duplicates
(same ``event_id``) do not matter. Nothing here reads the wall clock.

Evaluation at ``as_of``: events stamped after ``as_of`` (a severity change or
a response) are not yet in effect, so a verdict at ``as_of`` is the verdict
the ticket had at that instant, and replaying at a later ``as_of`` never
contradicts an earlier evaluation except by moving forward in time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Final, Literal

from sla.business_clock import (
    SEVERITIES,
    BusinessCalendar,
    ResponseTarget,
    Severity,
    SeverityChangePolicy,
    risk_us,
    to_utc,
)

Status = Literal["open", "at_risk", "met", "breached"]

_US_PER_MINUTE: Final = 60_000_000
PERCENTILES: Final = (50, 90, 95)


# ------------------------------------------------------------------- events


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


# ------------------------------------------------------------------ verdict


@dataclass(frozen=True)
class TicketVerdict:
    """First-response verdict of one ticket as of ``as_of``.

    * ``severity``: the current severity (the last change in effect at
      ``as_of``, including changes after the first response, which do not
      move the deadline).
    * ``deadline`` / ``at_risk_at``: UTC; ``at_risk_at`` is when 75 % of the
      allowed time has elapsed, on the same clock as the target.
    * ``responded_at``: the first response, UTC, or None (also None when the
      only responses are stamped after ``as_of``).
    * ``status``: ``met`` when responded at or before the deadline,
      ``breached`` when responded after it or not responded by ``as_of >=
      deadline``, ``at_risk`` when not responded and ``at_risk_at <= as_of <
      deadline``, else ``open``.
    * ``response_business_minutes``: business minutes from ``opened_at`` to
      the response, an exact ``Fraction`` (None without a response).
    * ``pending_at``: the earliest event instant after ``as_of`` (a change or
      response already received but not yet in effect), or None.
    """

    ticket_id: str
    client_id: str
    severity: Severity
    opened_at: datetime
    deadline: datetime
    at_risk_at: datetime
    responded_at: datetime | None
    status: Status
    policy: SeverityChangePolicy
    response_business_minutes: Fraction | None
    as_of: datetime
    pending_at: datetime | None = None


def _clock_for_severity(
    opened_at: datetime,
    initial: Severity,
    changes: Sequence[SeverityChange],
    calendar: BusinessCalendar,
) -> tuple[datetime, datetime]:
    """(deadline, at_risk_at) after the pre-response ``changes`` (sorted, in effect)."""
    policy = calendar.severity_change_policy
    targets = calendar.targets
    target: ResponseTarget = targets.for_severity(initial)
    start = opened_at  # where the current target's clock starts
    carried = 0  # carry_elapsed: microseconds already used against the target
    current = initial
    for change in changes:
        if change.severity == current:
            continue  # not a change: the clock carries on untouched
        new = targets.for_severity(change.severity)
        at = max(change.changed_at, opened_at)
        if policy == "retroactive":
            start, carried = opened_at, 0
        elif policy == "from_change":
            start, carried = at, 0
        else:  # carry_elapsed
            carried += calendar.target_elapsed_us(target, start, at)
            start = at
        target, current = new, change.severity
    allowed = target.duration // timedelta(microseconds=1)
    due = calendar.target_add(target, start, max(allowed - carried, 0))
    risk = calendar.target_add(target, start, max(risk_us(allowed) - carried, 0))
    return due, risk


def ticket_verdict(
    opened: TicketOpened,
    severity_changes: Iterable[SeverityChange | tuple[datetime, Severity]],
    responded_at: datetime | Iterable[datetime] | None,
    as_of: datetime,
    calendar: BusinessCalendar,
) -> TicketVerdict:
    """Verdict of one ticket as of ``as_of``.

    ``responded_at`` is the first response, or every response seen (the
    earliest counts), or None. Changes and responses stamped after ``as_of``
    are not in effect yet (see the module docstring). A response stamped
    before ``opened_at`` (producer clock skew) counts as a response at
    ``opened_at``; a change stamped before ``opened_at`` applies from
    ``opened_at``. A "change" to the severity already in force is ignored.
    Changes at the same instant apply in ``event_id`` order.

    Severity changes strictly before the first response move the deadline,
    following ``calendar.severity_change_policy``; let ``T_new`` be the new
    target and ``x`` the change instant:

    * ``retroactive``: the deadline is recomputed from ``opened_at`` with
      ``T_new`` (it may already be past).
    * ``from_change``: ``T_new`` counts from ``x``, as if the ticket were
      opened at ``x`` with the new severity.
    * ``carry_elapsed``: the time already elapsed *on the old target's clock*
      (wall-clock for ``high``, business time for ``medium``/``low``) from
      that clock's start to ``x``, plus whatever was carried into it, counts
      against ``T_new``; the rest, ``T_new - used``, is counted on the new
      target's clock from ``x``. Between clocks the conversion is one to one:
      an hour of business time used counts as an hour against a wall-clock
      target and vice versa. If nothing is left the deadline is ``x``.

    ``at_risk_at`` follows the same rule with 75 % of the allowed time (for
    ``carry_elapsed``: 75 % of ``T_new`` minus the time used, and at the
    earliest ``x``). Changes at or after the first response only change the
    reported ``severity``.
    """
    opened_at = to_utc(opened.opened_at)
    as_of = to_utc(as_of)
    later: list[datetime] = []

    changes: list[SeverityChange] = []
    for raw in severity_changes:
        change = raw if isinstance(raw, SeverityChange) else SeverityChange(raw[0], raw[1])
        change = SeverityChange(to_utc(change.changed_at), change.severity, change.event_id)
        if change.changed_at > as_of:
            later.append(change.changed_at)
        else:
            changes.append(change)
    changes.sort(key=lambda c: (max(c.changed_at, opened_at), c.event_id, c.severity))

    responses: list[datetime]
    if responded_at is None:
        responses = []
    elif isinstance(responded_at, datetime):
        responses = [responded_at]
    else:
        responses = list(responded_at)
    first: datetime | None = None
    for response in map(to_utc, responses):
        if response > as_of:
            later.append(response)
        elif first is None or response < first:
            first = response
    if first is not None:
        first = max(first, opened_at)

    before_response = [c for c in changes if first is None or c.changed_at < first]
    due, risk = _clock_for_severity(opened_at, opened.severity, before_response, calendar)

    status: Status
    minutes: Fraction | None = None
    if first is not None:
        status = "met" if first <= due else "breached"
        minutes = Fraction(calendar.elapsed_us(opened_at, first), _US_PER_MINUTE)
    elif as_of >= due:
        status = "breached"
    elif as_of >= risk:
        status = "at_risk"
    else:
        status = "open"

    return TicketVerdict(
        ticket_id=opened.ticket_id,
        client_id=opened.client_id,
        severity=changes[-1].severity if changes else opened.severity,
        opened_at=opened_at,
        deadline=due,
        at_risk_at=risk,
        responded_at=first,
        status=status,
        policy=calendar.severity_change_policy,
        response_business_minutes=minutes,
        as_of=as_of,
        pending_at=min(later) if later else None,
    )


def next_timer(verdict: TicketVerdict) -> datetime | None:
    """The next instant the status changes with no new event arriving, or None.

    ``at_risk_at`` for an open ticket, ``deadline`` for one at risk (a missing
    response turns into a breach there), None once met or breached. An event
    already received but stamped after ``as_of`` (``pending_at``) comes first
    if earlier, since the verdict must be re-evaluated then.
    """
    timer: datetime | None = None
    if verdict.status == "open":
        timer = verdict.at_risk_at
    elif verdict.status == "at_risk":
        timer = verdict.deadline
    candidates = [t for t in (timer, verdict.pending_at) if t is not None]
    return min(candidates) if candidates else None


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


# --------------------------------------------------------------- compliance


@dataclass(frozen=True)
class ComplianceRow:
    """Monthly first-response compliance of one client and severity.

    ``month`` is ``YYYY-MM`` of ``opened_at`` in the calendar's timezone;
    ``open`` counts open and at-risk tickets (``at_risk`` is the at-risk
    subset). Percentiles are nearest-rank over the business-minute response
    times of responded tickets (met or breached), exact; None without any.
    """

    client_id: str
    month: str
    severity: Severity
    met: int
    breached: int
    open: int
    at_risk: int
    responded: int
    p50_business_minutes: Fraction | None
    p90_business_minutes: Fraction | None
    p95_business_minutes: Fraction | None


def nearest_rank(sorted_values: Sequence[Fraction], percent: int) -> Fraction | None:
    """Nearest-rank percentile: the value at rank ``ceil(percent / 100 * n)`` (1-based)."""
    if not sorted_values:
        return None
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    rank = -(-percent * len(sorted_values) // 100)
    return sorted_values[rank - 1]


def monthly_compliance(
    verdicts: Iterable[TicketVerdict], calendar: BusinessCalendar
) -> list[ComplianceRow]:
    """Compliance rows per (client, month of ``opened_at``, current severity), sorted by key.

    Every client and month with a ticket gets a row for each severity, with
    zeros where it has none: a ticket whose severity changes moves to
    another row, and the row it left must be replaced by an empty one (in a
    compacted topic or a table keyed by client, month and severity), not
    left behind with the old counts.
    """
    tz = calendar.tz
    groups: defaultdict[tuple[str, str, Severity], list[TicketVerdict]] = defaultdict(list)
    for verdict in verdicts:
        month = verdict.opened_at.astimezone(tz).strftime("%Y-%m")
        for severity in SEVERITIES:
            groups[(verdict.client_id, month, severity)]
        groups[(verdict.client_id, month, verdict.severity)].append(verdict)

    rows: list[ComplianceRow] = []
    for (client_id, month, severity), members in sorted(groups.items()):
        times = sorted(
            v.response_business_minutes for v in members if v.response_business_minutes is not None
        )
        p50, p90, p95 = (nearest_rank(times, p) for p in PERCENTILES)
        rows.append(
            ComplianceRow(
                client_id=client_id,
                month=month,
                severity=severity,
                met=sum(v.status == "met" for v in members),
                breached=sum(v.status == "breached" for v in members),
                open=sum(v.status in ("open", "at_risk") for v in members),
                at_risk=sum(v.status == "at_risk" for v in members),
                responded=len(times),
                p50_business_minutes=p50,
                p90_business_minutes=p90,
                p95_business_minutes=p95,
            )
        )
    return rows
