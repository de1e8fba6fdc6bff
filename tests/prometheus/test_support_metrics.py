"""AvailabilityCollector's support series: tickets at risk, breached and met, by severity."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from fold.replay import ReplayResult
from sinks import metrics as m
from sinks.metrics import ReplayState
from sla.model import JSON
from sla.timeutil import parse_instant
from tests.prometheus.collector_cases import MARCH, FakeState, registry_for, statement, value


def support(reg: CollectorRegistry, name: str, severity: str, suffix: str = "") -> float | None:
    return value(reg, name + suffix, ticket_severity=severity)


def test_support_metrics_of_the_small_month(small_replay: ReplayResult) -> None:
    """T-1 High at risk, T-2 Medium open, T-3 Low met (90 min), T-4 and T-5 breached."""
    reg, _ = registry_for(ReplayState(small_replay))
    assert {s: support(reg, m.SUPPORT_TICKETS_AT_RISK, s) for s in m.TICKET_SEVERITIES} == {
        "high": 1,
        "low": 0,
        "medium": 0,
    }
    assert {s: support(reg, m.SUPPORT_TICKETS_OPEN, s) for s in m.TICKET_SEVERITIES} == {
        "high": 1,
        "low": 0,
        "medium": 1,
    }
    assert {s: support(reg, m.SUPPORT_BREACHES_TOTAL, s) for s in m.TICKET_SEVERITIES} == {
        "high": 1,
        "low": 0,
        "medium": 1,
    }
    hist = m.SUPPORT_FIRST_RESPONSE_SECONDS
    assert support(reg, hist, "low", "_count") == 1
    assert support(reg, hist, "low", "_sum") == 5400
    assert value(reg, hist + "_bucket", ticket_severity="low", le="3600.0") == 0
    assert value(reg, hist + "_bucket", ticket_severity="low", le="5400.0") == 1
    assert support(reg, hist, "high", "_sum") == 10800
    assert value(reg, hist + "_bucket", ticket_severity="high", le="7200.0") == 0
    assert value(reg, hist + "_bucket", ticket_severity="high", le="10800.0") == 1
    assert support(reg, hist, "medium", "_count") == 0


def test_at_risk_and_breach_follow_the_scrape_clock(small_replay: ReplayResult) -> None:
    """T-1 (High, due 00:15) turns at 00:15 without a new verdict; T-2 on Monday 10:45."""
    state = ReplayState(small_replay)
    reg, _ = registry_for(state, now=parse_instant("2026-03-14T23:44:59Z"))
    assert support(reg, m.SUPPORT_TICKETS_AT_RISK, "high") == 0
    assert support(reg, m.SUPPORT_TICKETS_OPEN, "high") == 1
    reg, _ = registry_for(state, now=parse_instant("2026-03-15T00:15:00Z"))
    assert support(reg, m.SUPPORT_TICKETS_AT_RISK, "high") == 0
    assert support(reg, m.SUPPORT_TICKETS_OPEN, "high") == 0
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "high") == 2
    reg, _ = registry_for(state, now=parse_instant("2026-03-16T10:45:00Z"))
    assert support(reg, m.SUPPORT_TICKETS_AT_RISK, "medium") == 1


class SupportOnly(FakeState):
    """No statements; ticket verdicts written by hand, replaced between scrapes."""

    def __init__(self, verdicts: Iterable[JSON]) -> None:
        super().__init__([])
        self.verdicts = list(verdicts)

    def support_outputs(self) -> list[JSON]:
        return self.verdicts


def verdict(ticket_id: str, severity: str, status: str, minutes: str | None = None) -> JSON:
    return {
        "kind": "ticket_verdict",
        "ticket_id": ticket_id,
        "client_id": "acme",
        "severity": severity,
        "opened_at": "2026-03-10T09:00:00Z",
        "deadline": "2026-03-10T11:00:00Z",
        "at_risk_at": "2026-03-10T10:30:00Z",
        "responded_at": None if minutes is None else "2026-03-10T10:00:00Z",
        "status": status,
        "policy": "retroactive",
        "response_business_minutes": minutes,
        "computed_at": "2026-03-10T12:00:00Z",
    }


def test_each_ticket_counts_once_and_counters_never_fall() -> None:
    state = SupportOnly([verdict("T-1", "high", "breached"), verdict("T-2", "low", "met", "60.00")])
    reg, _ = registry_for(state)
    hist = m.SUPPORT_FIRST_RESPONSE_SECONDS
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "high") == 1
    assert support(reg, hist, "low", "_count") == 1
    # Scraped again, and after a severity change after the response: no double count,
    # no move between label sets.
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "high") == 1
    state.verdicts = [verdict("T-1", "low", "breached"), verdict("T-2", "high", "met", "60.00")]
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "high") == 1
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "low") == 0
    assert support(reg, hist, "low", "_count") == 1
    assert support(reg, hist, "high", "_count") == 0
    # A new breach and a new response count.
    state.verdicts.append(verdict("T-3", "medium", "breached", "600.00"))
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "medium") == 1
    assert support(reg, hist, "medium", "_sum") == 36000
    assert value(reg, hist + "_bucket", ticket_severity="medium", le="30600.0") == 0
    assert value(reg, hist + "_bucket", ticket_severity="medium", le="61200.0") == 1


def test_worker_counts_support_from_its_first_scrape() -> None:
    """Without history the tickets present at the first scrape are the baseline."""
    state = SupportOnly([verdict("T-1", "high", "breached", "200.00")])
    reg, _ = registry_for(state, count_history=False)
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "high") == 0
    assert support(reg, m.SUPPORT_FIRST_RESPONSE_SECONDS, "high", "_count") == 0
    state.verdicts.append(verdict("T-2", "high", "breached"))
    assert support(reg, m.SUPPORT_BREACHES_TOTAL, "high") == 1


def test_a_state_without_support_exports_no_support_series() -> None:
    reg, _ = registry_for(FakeState([statement(1, 0)]))
    assert support(reg, m.SUPPORT_TICKETS_OPEN, "high") is None
    assert value(reg, m.CONTRACT_STATEMENT_REVISION, **MARCH) == 0
