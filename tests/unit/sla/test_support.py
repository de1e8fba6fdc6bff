"""First-response verdicts, severity-change policies and monthly compliance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fold.replay import next_support_moment, support_outputs
from schemas.codec import decode
from sla.business_clock import BusinessCalendar, Severity, SeverityChangePolicy
from sla.support import (
    SeverityChange,
    TicketAlert,
    TicketEvent,
    TicketOpened,
    TicketProgressUpdate,
    TicketResolved,
    TicketResponded,
    TicketSeverityChanged,
    TicketVerdict,
    fold_ticket_events,
    monthly_compliance,
    nearest_rank,
    next_ticket_moment,
    next_timer,
    ticket_alerts,
    ticket_verdict,
)

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


# --------------------------------------------------- response at the deadline


def test_response_exactly_at_deadline_is_met_one_microsecond_later_breached() -> None:
    ticket = opened(london(2026, 8, 28, 16, 30))
    due = london(2026, 9, 1, 11, 0)
    met = ticket_verdict(ticket, [], due, FAR, CAL)
    assert met.deadline == due
    assert met.status == "met"
    assert met.response_business_minutes == 180
    late = ticket_verdict(ticket, [], due + US, FAR, CAL)
    assert late.status == "breached"
    assert late.response_business_minutes == Fraction(180 * 60_000_000 + 1, 60_000_000)
    assert next_timer(met) is None
    assert next_timer(late) is None


def test_unanswered_ticket_moves_open_at_risk_breached() -> None:
    ticket = opened(london(2026, 8, 28, 16, 30))
    at_risk = london(2026, 9, 1, 10, 15)
    due = london(2026, 9, 1, 11, 0)
    before = ticket_verdict(ticket, [], None, at_risk - US, CAL)
    assert (before.status, next_timer(before)) == ("open", at_risk)
    risky = ticket_verdict(ticket, [], None, at_risk, CAL)
    assert (risky.status, next_timer(risky)) == ("at_risk", due)
    assert ticket_verdict(ticket, [], None, due - US, CAL).status == "at_risk"
    breached = ticket_verdict(ticket, [], None, due, CAL)
    assert breached.status == "breached"
    assert breached.responded_at is None
    assert breached.response_business_minutes is None
    assert next_timer(breached) is None
    # The late response itself does not turn a breach into a met.
    assert ticket_verdict(ticket, [], due + timedelta(hours=5), FAR, CAL).status == "breached"


def test_response_after_as_of_is_not_yet_in_effect() -> None:
    ticket = opened(london(2026, 8, 28, 16, 30))
    response = london(2026, 9, 1, 9, 30)
    early = ticket_verdict(ticket, [], response, london(2026, 8, 28, 17, 0), CAL)
    assert early.status == "open"
    assert early.responded_at is None
    assert early.pending_at == response
    assert next_timer(early) == response  # earlier than at_risk_at
    assert ticket_verdict(ticket, [], response, FAR, CAL).status == "met"


def test_first_of_several_responses_counts_and_skewed_response_is_immediate() -> None:
    ticket = opened(london(2026, 9, 1, 9, 0))
    responses = [london(2026, 9, 1, 15, 0), london(2026, 9, 1, 10, 0)]
    verdict = ticket_verdict(ticket, [], responses, FAR, CAL)
    assert verdict.responded_at == london(2026, 9, 1, 10, 0)
    assert verdict.response_business_minutes == 60
    skewed = ticket_verdict(ticket, [], london(2026, 9, 1, 8, 0), FAR, CAL)
    assert skewed.status == "met"
    assert skewed.response_business_minutes == 0


# ----------------------------------------------------- severity change policies

# Medium opened Monday 16:30: 1 business hour Monday, 1 Tuesday; raised to
# High on Tuesday 10:00 BST after 2 business hours (17.5 h of wall-clock time).
OPENED = london(2026, 6, 1, 16, 30)
RAISED_AT = london(2026, 6, 2, 10, 0)


@pytest.mark.parametrize(
    ("policy", "due", "at_risk"),
    [
        # 2 h wall-clock from opened_at: Monday 18:30, already past at the change.
        ("retroactive", london(2026, 6, 1, 18, 30), london(2026, 6, 1, 18, 0)),
        # 2 h wall-clock from the change.
        ("from_change", london(2026, 6, 2, 12, 0), london(2026, 6, 2, 11, 30)),
        # 2 business hours used count one to one against the 2 h: nothing left.
        ("carry_elapsed", RAISED_AT, RAISED_AT),
    ],
)
def test_medium_raised_to_high_after_two_business_hours(
    policy: SeverityChangePolicy, due: datetime, at_risk: datetime
) -> None:
    verdict = ticket_verdict(opened(OPENED), [(RAISED_AT, "high")], None, FAR, calendar(policy))
    assert verdict.severity == "high"
    assert verdict.policy == policy
    assert verdict.deadline == due
    assert verdict.at_risk_at == at_risk
    assert verdict.status == "breached"


def test_carry_elapsed_with_time_left() -> None:
    # Raised after 1 business hour (Monday 16:30-17:30): 1 h of the 2 h is left,
    # counted in wall-clock time from the change.
    raised = london(2026, 6, 2, 8, 0)
    cal = calendar("carry_elapsed")
    verdict = ticket_verdict(opened(OPENED), [(raised, "high")], None, raised, cal)
    assert verdict.deadline == london(2026, 6, 2, 9, 0)
    assert verdict.at_risk_at == london(2026, 6, 2, 8, 30)  # 1.5 h - 1 h used
    assert verdict.status == "open"


def test_carry_elapsed_from_wall_clock_to_business_hours() -> None:
    # High opened Friday 17:00, lowered to Low at 18:00: 1 wall-clock hour used,
    # 3 of the 4 business hours left, counted from the change (Tuesday 09:00 on).
    cal = calendar("carry_elapsed")
    start = london(2026, 8, 28, 17, 0)
    lowered = london(2026, 8, 28, 18, 0)
    verdict = ticket_verdict(opened(start, "high"), [(lowered, "low")], None, lowered, cal)
    assert verdict.status == "open"
    assert verdict.deadline == london(2026, 9, 1, 12, 0)
    assert verdict.at_risk_at == london(2026, 9, 1, 11, 0)  # 3 h - 1 h used


def test_carry_elapsed_chains_changes() -> None:
    # Low opened Tue 09:00; Medium at 10:00 (1 h used); Low again at 11:00
    # (2 h used); 2 h left from 11:00.
    cal = calendar("carry_elapsed")
    changes: list[tuple[datetime, Severity]] = [
        (london(2026, 9, 1, 10, 0), "medium"),
        (london(2026, 9, 1, 11, 0), "low"),
    ]
    verdict = ticket_verdict(opened(london(2026, 9, 1, 9, 0), "low"), changes, None, FAR, cal)
    assert verdict.deadline == london(2026, 9, 1, 13, 0)
    assert verdict.severity == "low"


@pytest.mark.parametrize("policy", ["retroactive", "from_change", "carry_elapsed"])
def test_changes_after_first_response_do_not_move_deadline(
    policy: SeverityChangePolicy,
) -> None:
    cal = calendar(policy)
    response = london(2026, 6, 2, 9, 30)
    verdict = ticket_verdict(
        opened(OPENED), [(response, "high"), (RAISED_AT, "low")], response, FAR, cal
    )
    assert verdict.deadline == london(2026, 6, 2, 11, 0)  # medium from opened_at
    assert verdict.severity == "low"
    assert verdict.status == "met"


def test_same_severity_change_and_early_change() -> None:
    cal = calendar("from_change")
    plain = ticket_verdict(opened(OPENED), [], None, FAR, cal)
    same = ticket_verdict(opened(OPENED), [(RAISED_AT, "medium")], None, FAR, cal)
    assert same.deadline == plain.deadline
    # A change stamped before opened_at applies from opened_at.
    early = ticket_verdict(opened(OPENED), [(OPENED - timedelta(hours=1), "high")], None, FAR, cal)
    assert early.deadline == OPENED + timedelta(hours=2)


def test_change_after_as_of_is_pending() -> None:
    as_of = london(2026, 6, 1, 17, 0)
    verdict = ticket_verdict(opened(OPENED), [(RAISED_AT, "high")], None, as_of, CAL)
    assert verdict.severity == "medium"
    assert verdict.pending_at == RAISED_AT


def test_naive_inputs_rejected() -> None:
    naive = datetime(2026, 6, 1, 16, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        ticket_verdict(opened(naive), [], None, FAR, CAL)
    with pytest.raises(ValueError, match="naive"):
        ticket_verdict(opened(OPENED), [], None, naive, CAL)
    with pytest.raises(ValueError, match="naive"):
        ticket_verdict(opened(OPENED), [(naive, "high")], None, FAR, CAL)


# ------------------------------------------------------------------ event fold


def ticket_events() -> list[TicketEvent]:
    return [
        opened(OPENED),
        TicketSeverityChanged("e2", "T-1", RAISED_AT, "high"),
        TicketProgressUpdate("e3", "T-1", london(2026, 6, 2, 10, 30)),
        TicketResponded("e4", "T-1", london(2026, 6, 2, 11, 0)),
        TicketResponded("e5", "T-1", london(2026, 6, 2, 14, 0)),
        TicketResolved("e6", "T-1", london(2026, 6, 3, 9, 0)),
        opened(london(2026, 6, 3, 9, 0), "low", ticket="T-2"),
        TicketResponded("e7", "T-3", london(2026, 6, 3, 9, 0)),  # orphan: no ticket_opened
    ]


def test_fold_builds_verdicts() -> None:
    verdicts = fold_ticket_events(ticket_events(), FAR, calendar("from_change"))
    assert set(verdicts) == {"T-1", "T-2"}
    first = verdicts["T-1"]
    assert first.severity == "high"
    assert first.deadline == london(2026, 6, 2, 12, 0)
    assert first.responded_at == london(2026, 6, 2, 11, 0)
    assert first.status == "met"
    assert first.response_business_minutes == 180
    assert verdicts["T-2"].status == "breached"


@settings(max_examples=50, deadline=None)
@given(
    order=st.permutations(list(range(len(ticket_events())))),
    duplicates=st.lists(st.integers(0, len(ticket_events()) - 1), max_size=6),
    policy=st.sampled_from(["retroactive", "from_change", "carry_elapsed"]),
)
def test_fold_ignores_order_and_duplicates(
    order: list[int], duplicates: list[int], policy: SeverityChangePolicy
) -> None:
    events = ticket_events()
    shuffled = [events[i] for i in order] + [events[i] for i in duplicates]
    cal = calendar(policy)
    as_of = london(2026, 6, 2, 10, 45)
    assert fold_ticket_events(shuffled, as_of, cal) == fold_ticket_events(events, as_of, cal)


# ------------------------------------------------------------------ compliance


def verdict_for(ticket: str, client: str, at: datetime, response: datetime | None) -> TicketVerdict:
    return ticket_verdict(
        opened(at, "medium", ticket=ticket, client=client), [], response, FAR, CAL
    )


def test_monthly_compliance_counts_and_percentiles() -> None:
    base = london(2026, 9, 1, 9, 0)
    verdicts = [
        verdict_for(f"T-{minutes}", "acme", base, base + timedelta(minutes=minutes))
        for minutes in (10, 20, 30, 40, 50, 60, 70, 80, 90, 200)
    ]
    verdicts.append(verdict_for("T-none", "acme", base, None))
    # 23:30Z on 31 May is 00:30 BST on 1 June: a June ticket in London.
    verdicts.append(verdict_for("T-june", "acme", datetime(2026, 5, 31, 23, 30, tzinfo=UTC), None))
    open_ticket = ticket_verdict(
        opened(base, ticket="T-open"), [], None, base + timedelta(hours=1), CAL
    )
    verdicts.append(open_ticket)
    rows = {(r.client_id, r.month, r.severity): r for r in monthly_compliance(verdicts, CAL)}
    september = rows[("acme", "2026-09", "medium")]
    assert (september.met, september.breached, september.open) == (9, 2, 1)
    assert september.responded == 10
    assert september.p50_business_minutes == 50
    assert september.p90_business_minutes == 90
    assert september.p95_business_minutes == 200
    june = rows[("acme", "2026-06", "medium")]
    assert (june.met, june.breached, june.open, june.responded) == (0, 1, 0, 0)
    assert june.p50_business_minutes is None


def test_monthly_compliance_counts_at_risk_as_open() -> None:
    base = london(2026, 9, 1, 9, 0)
    risky = ticket_verdict(opened(base), [], None, base + timedelta(hours=2, minutes=30), CAL)
    assert risky.status == "at_risk"
    rows = {r.severity: r for r in monthly_compliance([risky], CAL)}
    assert (rows["medium"].open, rows["medium"].at_risk) == (1, 1)


def test_monthly_compliance_has_a_row_for_every_severity() -> None:
    """A severity change empties a row: it is published with zeros, not dropped."""
    base = london(2026, 9, 1, 9, 0)
    before = ticket_verdict(opened(base), [], None, base, CAL)
    after = ticket_verdict(opened(base), [(base + timedelta(minutes=5), "high")], None, FAR, CAL)
    for verdict in (before, after):
        rows = monthly_compliance([verdict], CAL)
        assert [(r.client_id, r.month, r.severity) for r in rows] == [
            ("acme", "2026-09", "high"),
            ("acme", "2026-09", "low"),
            ("acme", "2026-09", "medium"),
        ]
        counted = [r for r in rows if r.met + r.breached + r.open]
        assert [r.severity for r in counted] == [verdict.severity]
        empty = [r for r in rows if r.severity != verdict.severity]
        assert all(r.responded == 0 and r.p50_business_minutes is None for r in empty)


def test_nearest_rank() -> None:
    values = [Fraction(v) for v in (15, 20, 35, 40, 50)]
    assert nearest_rank(values, 50) == 35
    assert nearest_rank(values, 30) == 20
    assert nearest_rank(values, 100) == 50
    assert nearest_rank(values, 1) == 15
    assert nearest_rank([], 50) is None
    with pytest.raises(ValueError, match="percent"):
        nearest_rank(values, 0)


def test_severity_change_type_accepts_dataclass() -> None:
    change = SeverityChange(RAISED_AT, "high", event_id="e2")
    verdict = ticket_verdict(opened(OPENED), [change], None, FAR, calendar("from_change"))
    assert verdict.deadline == london(2026, 6, 2, 12, 0)


# ---------------------------------------------------------------------- alerts

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


@pytest.mark.parametrize(
    ("policy", "risk", "due"),
    [
        # Recomputed from opened_at as High: both moments already past at the change.
        ("retroactive", london(2026, 6, 1, 18, 0), london(2026, 6, 1, 18, 30)),
        # 2 h of wall-clock time from the change.
        ("from_change", london(2026, 6, 2, 11, 30), london(2026, 6, 2, 12, 0)),
        # The 2 business hours used exhaust the 2 h: both moments at the change.
        ("carry_elapsed", RAISED_AT, RAISED_AT),
    ],
)
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
