"""Severity-change policies: how a change of severity moves a ticket's deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sla.business_clock import Severity, SeverityChangePolicy
from sla.support import SeverityChange, ticket_verdict
from tests.unit.sla.support_cases import (
    CAL,
    FAR,
    OPENED,
    RAISED_AT,
    RAISED_TO_HIGH,
    calendar,
    london,
    opened,
)


@pytest.mark.parametrize(
    ("policy", "due", "at_risk"), [(policy, due, risk) for policy, risk, due in RAISED_TO_HIGH]
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


def test_severity_change_type_accepts_dataclass() -> None:
    change = SeverityChange(RAISED_AT, "high", event_id="e2")
    verdict = ticket_verdict(opened(OPENED), [change], None, FAR, calendar("from_change"))
    assert verdict.deadline == london(2026, 6, 2, 12, 0)
