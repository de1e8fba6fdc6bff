"""Tickets for the support tests: London instants, an opened ticket, calendars.

The business calendar and instants the support test modules share, and the
Medium ticket opened on Monday 1 June 2026 that a severity change raises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sla.business_clock import BusinessCalendar, Severity, SeverityChangePolicy
from sla.support import TicketOpened

LONDON = ZoneInfo("Europe/London")
CAL = BusinessCalendar()
US = timedelta(microseconds=1)
FAR = datetime(2030, 1, 1, tzinfo=UTC)


def london(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=LONDON)


def opened(
    at: datetime, severity: Severity = "medium", ticket: str = "T-1", client: str = "acme"
) -> TicketOpened:
    return TicketOpened(
        event_id=f"open-{ticket}",
        ticket_id=ticket,
        client_id=client,
        opened_at=at,
        severity=severity,
    )


def calendar(policy: SeverityChangePolicy) -> BusinessCalendar:
    return BusinessCalendar(severity_change_policy=policy)


# Medium opened Monday 16:30: 1 business hour Monday, 1 Tuesday; raised to
# High on Tuesday 10:00 BST after 2 business hours (17.5 h of wall-clock time).
OPENED = london(2026, 6, 1, 16, 30)
RAISED_AT = london(2026, 6, 2, 10, 0)

#: Per policy, the at-risk moment and the deadline of that ticket raised to High
#: at ``RAISED_AT``.
RAISED_TO_HIGH: list[tuple[SeverityChangePolicy, datetime, datetime]] = [
    # Recomputed from opened_at as High, 2 h wall-clock: Monday 18:30, both
    # moments already past at the change.
    ("retroactive", london(2026, 6, 1, 18, 0), london(2026, 6, 1, 18, 30)),
    # 2 h of wall-clock time from the change.
    ("from_change", london(2026, 6, 2, 11, 30), london(2026, 6, 2, 12, 0)),
    # The 2 business hours used count one to one against the 2 h: nothing left,
    # both moments at the change.
    ("carry_elapsed", RAISED_AT, RAISED_AT),
]
