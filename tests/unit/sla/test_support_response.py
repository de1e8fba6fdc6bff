"""First-response verdicts: met at the deadline, at risk, breached, not yet in effect."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from sla.support import next_timer, ticket_verdict
from tests.unit.sla.support_cases import CAL, FAR, US, london, opened


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
