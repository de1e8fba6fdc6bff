"""The ticket event fold and monthly compliance (counts and percentiles)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla.business_clock import SeverityChangePolicy
from sla.support import (
    TicketEvent,
    TicketProgressUpdate,
    TicketResolved,
    TicketResponded,
    TicketSeverityChanged,
    TicketVerdict,
    fold_ticket_events,
    monthly_compliance,
    nearest_rank,
    ticket_verdict,
)
from tests.unit.sla.support_cases import CAL, FAR, OPENED, RAISED_AT, calendar, london, opened


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
