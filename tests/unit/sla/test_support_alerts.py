"""Ticket alerts (at risk, breached) and the next moment a ticket's verdict changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fold.replay import next_support_moment, support_outputs
from schemas.codec import decode
from sla.business_clock import BusinessCalendar, Severity, SeverityChangePolicy
from sla.support import (
    TicketAlert,
    TicketEvent,
    TicketOpened,
    TicketResponded,
    TicketSeverityChanged,
    next_ticket_moment,
    ticket_alerts,
    ticket_verdict,
)
from tests.unit.sla.support_cases import (
    CAL,
    FAR,
    OPENED,
    RAISED_AT,
    RAISED_TO_HIGH,
    US,
    calendar,
    london,
    opened,
)

# Low (4 business hours) opened Friday 28 August 2026 16:30 BST: 1 h on
# Friday, then the weekend and the summer bank holiday (Monday 31 August),
# then Tuesday from 09:00. 75 % is 3 h: Tuesday 11:00; the deadline 12:00.
FRIDAY = london(2026, 8, 28, 16, 30)
TUESDAY_RISK = london(2026, 9, 1, 11, 0)
TUESDAY_DUE = london(2026, 9, 1, 12, 0)


def alerts_at(
    as_of: datetime,
    response: datetime | None = None,
    changes: list[tuple[datetime, Severity]] | None = None,
    ticket: TicketOpened | None = None,
    cal: BusinessCalendar = CAL,
) -> list[tuple[str, datetime]]:
    verdict = ticket_verdict(ticket or opened(FRIDAY, "low"), changes or [], response, as_of, cal)
    return [(a.alert, a.at) for a in ticket_alerts(verdict)]


def test_at_risk_at_75_percent_of_business_time_across_weekend_and_bank_holiday() -> None:
    assert date_is_holiday(london(2026, 8, 31))
    verdict = ticket_verdict(opened(FRIDAY, "low"), [], None, TUESDAY_RISK, CAL)
    assert verdict.at_risk_at == TUESDAY_RISK
    assert verdict.deadline == TUESDAY_DUE
    assert CAL.elapsed(FRIDAY, TUESDAY_RISK) == timedelta(hours=3)
    assert alerts_at(TUESDAY_RISK - US) == []
    assert alerts_at(TUESDAY_RISK) == [("at_risk", TUESDAY_RISK)]
    (alert,) = ticket_alerts(verdict)
    assert alert == TicketAlert(
        ticket_id="T-1",
        client_id="acme",
        severity="low",
        policy="retroactive",
        alert="at_risk",
        at=TUESDAY_RISK,
        deadline=TUESDAY_DUE,
        opened_at=FRIDAY.astimezone(UTC),
        as_of=TUESDAY_RISK.astimezone(UTC),
    )
    assert alert.at.tzinfo == UTC


def date_is_holiday(instant: datetime) -> bool:
    return not CAL.is_business_day(instant.date()) and instant.weekday() < 5


def test_breach_is_emitted_once_and_stays_put() -> None:
    both = [("at_risk", TUESDAY_RISK), ("breached", TUESDAY_DUE)]
    assert alerts_at(TUESDAY_DUE - US) == [("at_risk", TUESDAY_RISK)]
    assert alerts_at(TUESDAY_DUE) == both
    # Evaluated again later, or after the late response: the same two alerts.
    assert alerts_at(FAR) == both
    assert alerts_at(FAR, response=TUESDAY_DUE + timedelta(hours=3)) == both
    events: list[TicketEvent] = [opened(FRIDAY, "low")]
    lines = support_outputs(list(events), FAR, CAL)
    alerts = [o for o in lines if o["kind"] == "ticket_alert"]
    assert [(o["alert"], o["at"]) for o in alerts] == [
        ("at_risk", "2026-09-01T10:00:00Z"),
        ("breached", "2026-09-01T11:00:00Z"),
    ]
    assert alerts[1] == {
        "kind": "ticket_alert",
        "alert": "breached",
        "ticket_id": "T-1",
        "client_id": "acme",
        "severity": "low",
        "policy": "retroactive",
        "opened_at": "2026-08-28T15:30:00Z",
        "deadline": "2026-09-01T11:00:00Z",
        "at": "2026-09-01T11:00:00Z",
        "computed_at": "2030-01-01T00:00:00Z",
    }


def test_response_exactly_at_a_moment_gives_no_alert_for_it() -> None:
    # At the deadline: met, so no breach; the at-risk moment had passed unanswered.
    assert alerts_at(FAR, response=TUESDAY_DUE) == [("at_risk", TUESDAY_RISK)]
    assert ticket_verdict(opened(FRIDAY, "low"), [], TUESDAY_DUE, FAR, CAL).status == "met"
    # At the at-risk instant: nothing at all; one microsecond later: at risk.
    assert alerts_at(FAR, response=TUESDAY_RISK) == []
    assert alerts_at(FAR, response=TUESDAY_RISK + US) == [("at_risk", TUESDAY_RISK)]
    # Answered before both moments.
    assert alerts_at(FAR, response=london(2026, 9, 1, 9, 5)) == []


@pytest.mark.parametrize(("policy", "risk", "due"), RAISED_TO_HIGH)
def test_severity_change_moves_the_alert_moments(
    policy: SeverityChangePolicy, risk: datetime, due: datetime
) -> None:
    cal = calendar(policy)
    ticket = opened(OPENED)  # medium: 75 % on Tuesday 10:15, due 11:00
    raised: list[tuple[datetime, Severity]] = [(RAISED_AT, "high")]
    # Before the change takes effect nothing has passed.
    assert alerts_at(RAISED_AT - US, changes=raised, ticket=ticket, cal=cal) == []
    late = alerts_at(FAR, changes=raised, ticket=ticket, cal=cal)
    assert late == [("at_risk", risk), ("breached", due)]
    at_change = alerts_at(RAISED_AT, changes=raised, ticket=ticket, cal=cal)
    assert at_change == [(kind, at) for kind, at in late if at <= RAISED_AT]
    # Unchanged, the medium ticket would have been at risk at 10:15 and due at 11:00.
    assert alerts_at(FAR, ticket=ticket, cal=cal) == [
        ("at_risk", london(2026, 6, 2, 10, 15)),
        ("breached", london(2026, 6, 2, 11, 0)),
    ]
    verdict = ticket_verdict(ticket, raised, None, FAR, cal)
    assert {a.severity for a in ticket_alerts(verdict)} == {"high"}
    assert {a.policy for a in ticket_alerts(verdict)} == {policy}


def test_lowering_severity_moves_the_moments_later() -> None:
    # High opened Tuesday 09:00, lowered to Low at 09:30 (from_change): 4 business
    # hours from 09:30, at risk at 12:30, due at 13:30; the High moments never pass.
    cal = calendar("from_change")
    ticket = opened(london(2026, 9, 1, 9, 0), "high")
    lowered: list[tuple[datetime, Severity]] = [(london(2026, 9, 1, 9, 30), "low")]
    assert alerts_at(london(2026, 9, 1, 12, 0), changes=lowered, ticket=ticket, cal=cal) == []
    assert alerts_at(FAR, changes=lowered, ticket=ticket, cal=cal) == [
        ("at_risk", london(2026, 9, 1, 12, 30)),
        ("breached", london(2026, 9, 1, 13, 30)),
    ]


# ------------------------------------------------------------ next ticket moment


def test_next_ticket_moment_walks_the_moments() -> None:
    low = opened(FRIDAY, "low")
    assert next_ticket_moment([low], FRIDAY, CAL) == TUESDAY_RISK
    assert next_ticket_moment([low], TUESDAY_RISK - US, CAL) == TUESDAY_RISK
    # Strictly after now: at the at-risk instant the next moment is the deadline.
    assert next_ticket_moment([low], TUESDAY_RISK, CAL) == TUESDAY_DUE
    assert next_ticket_moment([low], TUESDAY_DUE, CAL) is None
    answered: list[TicketEvent] = [low, TicketResponded("r", "T-1", london(2026, 9, 1, 9, 30))]
    assert next_ticket_moment(answered, london(2026, 9, 1, 10, 0), CAL) is None
    # A response received but stamped later than now is re-evaluated when it takes effect.
    assert next_ticket_moment(answered, FRIDAY, CAL) == london(2026, 9, 1, 9, 30)
    assert next_ticket_moment([], FRIDAY, CAL) is None


def test_next_ticket_moment_is_the_earliest_over_tickets_and_follows_policy() -> None:
    low = opened(FRIDAY, "low")
    high = opened(london(2026, 8, 29, 10, 0), "high", ticket="T-2")  # Saturday, wall clock
    now = london(2026, 8, 29, 10, 0)
    assert next_ticket_moment([low, high], now, CAL) == london(2026, 8, 29, 11, 30)
    assert next_ticket_moment([low, high], london(2026, 8, 29, 11, 30), CAL) == london(
        2026, 8, 29, 12, 0
    )
    assert next_ticket_moment([low, high], london(2026, 8, 29, 12, 0), CAL) == TUESDAY_RISK
    # A raise to High under from_change: 75 % of 2 h after the change.
    raised: list[TicketEvent] = [
        opened(OPENED),
        TicketSeverityChanged("c", "T-1", RAISED_AT, "high"),
    ]
    cal = calendar("from_change")
    assert next_ticket_moment(raised, RAISED_AT, cal) == london(2026, 6, 2, 11, 30)
    # Before the change takes effect the change itself is the next moment.
    assert next_ticket_moment(raised, london(2026, 6, 1, 17, 0), cal) == RAISED_AT


def test_next_support_moment_takes_wire_events() -> None:
    wire = decode(
        b'{"type":"ticket_opened","event_id":"o-1","ticket_id":"T-9","client_id":"acme",'
        b'"opened_at":"2026-08-28T15:30:00Z","severity":"low","channel":"email"}'
    )
    assert next_support_moment([wire], FRIDAY) == TUESDAY_RISK
    assert next_support_moment([], FRIDAY) is None
    moment = next_support_moment([wire], TUESDAY_RISK)
    assert moment == TUESDAY_DUE
    assert moment is not None
    assert moment.tzinfo == UTC
