"""First-response verdict of one ticket as of an instant (rulebook section 8).

Re-exported by :mod:`sla.support`, whose docstring states the evaluation
rule at ``as_of``: events stamped after ``as_of`` are not yet in effect.

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

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Final, Literal

from sla.business_clock import (
    BusinessCalendar,
    ResponseTarget,
    Severity,
    SeverityChangePolicy,
    risk_us,
)
from sla.support_events import SeverityChange, TicketOpened
from sla.timeutil import to_utc

Status = Literal["open", "at_risk", "met", "breached"]

_US_PER_MINUTE: Final = 60_000_000


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


def _changes_in_effect(
    severity_changes: Iterable[SeverityChange | tuple[datetime, Severity]],
    opened_at: datetime,
    as_of: datetime,
) -> tuple[list[SeverityChange], list[datetime]]:
    """(changes in effect at ``as_of`` in the order they apply, instants of the later ones)."""
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
    return changes, later


def _first_response(
    responded_at: datetime | Iterable[datetime] | None, opened_at: datetime, as_of: datetime
) -> tuple[datetime | None, list[datetime]]:
    """(first response in effect at ``as_of``, not before ``opened_at``; instants of later ones)."""
    later: list[datetime] = []
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
    return first, later


def _status(first: datetime | None, due: datetime, risk: datetime, as_of: datetime) -> Status:
    """The status given the first response, the deadline and the at-risk instant."""
    if first is not None:
        return "met" if first <= due else "breached"
    if as_of >= due:
        return "breached"
    if as_of >= risk:
        return "at_risk"
    return "open"


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
    are not in effect yet (see :mod:`sla.support`). A response stamped
    before ``opened_at`` (producer clock skew) counts as a response at
    ``opened_at``; a change stamped before ``opened_at`` applies from
    ``opened_at``. A "change" to the severity already in force is ignored.
    Changes at the same instant apply in ``event_id`` order.

    Severity changes strictly before the first response move the deadline
    and ``at_risk_at`` as ``calendar.severity_change_policy`` says (the
    three policies are set out in the module docstring); changes at or
    after the first response only change the reported ``severity``.
    """
    opened_at = to_utc(opened.opened_at)
    as_of = to_utc(as_of)
    changes, later_changes = _changes_in_effect(severity_changes, opened_at, as_of)
    first, later_responses = _first_response(responded_at, opened_at, as_of)
    later = later_changes + later_responses

    before_response = [c for c in changes if first is None or c.changed_at < first]
    due, risk = _clock_for_severity(opened_at, opened.severity, before_response, calendar)
    minutes = (
        None if first is None else Fraction(calendar.elapsed_us(opened_at, first), _US_PER_MINUTE)
    )

    return TicketVerdict(
        ticket_id=opened.ticket_id,
        client_id=opened.client_id,
        severity=changes[-1].severity if changes else opened.severity,
        opened_at=opened_at,
        deadline=due,
        at_risk_at=risk,
        responded_at=first,
        status=_status(first, due, risk, as_of),
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
