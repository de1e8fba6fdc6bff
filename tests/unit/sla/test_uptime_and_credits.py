"""SPEC sections 4 and 5: exact uptime, budgets, tiers, bases, Decimal money."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from sla.credit import (
    credit_percent,
    error_budget,
    format_money,
    format_percent,
    meets_target,
    minutes_until_tier,
    round_money,
    uptime,
)
from sla.model import DEFAULT_TIERS, JSON
from tests.helpers import contract, one, probes_every_minute

FINAL = "2026-06-15T00:00:00Z"


def _statement(events: list[JSON], month: str) -> JSON:
    return one(events, FINAL, "contract_month", month=month)


@pytest.mark.parametrize(
    ("down", "shown", "meets", "credit"),
    [(44, "99.9014", True, "0"), (45, "99.8991", False, "10")],
)
def test_44_vs_45_minutes_in_a_31_day_month(
    down: int, shown: str, meets: bool, credit: str
) -> None:
    events = [contract(), *probes_every_minute("api", "2026-03-10T00:00:00Z", down, ok=False)]
    st = _statement(events, "2026-03")
    assert st["minutes_in_month"] == 44_640
    assert st["counted_downtime_minutes"] == down
    assert st["uptime_percent"] == shown
    assert st["meets_target"] is meets
    assert st["credit_percent"] == credit
    assert st["error_budget_minutes"] == 44
    assert st["error_budget_remaining_minutes"] == 44 - down
    assert st["credit_amount"] == ("0.00" if credit == "0" else "100.00")


@pytest.mark.parametrize(
    ("down", "shown", "credit", "amount"),
    [(432, "99.0000", "10", "100.00"), (433, "98.9976", "30", "300.00")],
)
def test_432_vs_433_minutes_in_a_30_day_month(
    down: int, shown: str, credit: str, amount: str
) -> None:
    events = [contract(), *probes_every_minute("api", "2026-04-10T00:00:00Z", down, ok=False)]
    st = _statement(events, "2026-04")
    assert st["minutes_in_month"] == 43_200
    assert st["uptime_percent"] == shown
    assert st["credit_percent"] == credit
    assert st["credit_amount"] == amount


@pytest.mark.parametrize(
    ("month", "start", "minutes", "budget"),
    [
        ("2026-02", "2026-02-10T00:00:00Z", 40_320, 40),
        ("2028-02", "2028-02-10T00:00:00Z", 41_760, 41),
    ],
)
def test_february_common_and_leap(month: str, start: str, minutes: int, budget: int) -> None:
    events = [contract(), *probes_every_minute("api", start, budget + 1, ok=False)]
    st = one(events, "2028-06-01T00:00:00Z", "contract_month", month=month)
    assert st["minutes_in_month"] == minutes
    assert st["error_budget_minutes"] == budget
    assert st["meets_target"] is False


def test_exact_comparisons_never_use_floats() -> None:
    assert meets_target(44_640, 44, Decimal("99.9"))
    assert not meets_target(44_640, 45, Decimal("99.9"))
    assert uptime(43_200, 432) == Fraction(99)
    assert credit_percent(Fraction(99), DEFAULT_TIERS) == Decimal("10")
    assert credit_percent(Fraction(99) - Fraction(1, 10**9), DEFAULT_TIERS) == Decimal("30")
    assert credit_percent(Fraction(999, 10), DEFAULT_TIERS) == Decimal("0")
    assert format_percent(Fraction(99_999_999, 1_000_000)) == "99.9999"
    assert error_budget(44_640, Decimal("99.9")) == 44
    assert error_budget(44_640, Decimal("99.95")) == 22


def test_minutes_until_each_tier() -> None:
    # 31-day month: the 10 % tier starts at 45 counted minutes, the 30 % tier at 447
    assert minutes_until_tier(44_640, 0, Decimal("99.9")) == 45
    assert minutes_until_tier(44_640, 44, Decimal("99.9")) == 1
    assert minutes_until_tier(44_640, 45, Decimal("99.9")) == 0
    assert minutes_until_tier(44_640, 0, Decimal("99.0")) == 447
    assert minutes_until_tier(43_200, 0, Decimal("99.0")) == 433


def test_money_rounds_half_up_to_the_minor_unit() -> None:
    assert round_money(Decimal("0.005"), "GBP") == Decimal("0.01")
    assert round_money(Decimal("0.0049"), "GBP") == Decimal("0.00")
    assert round_money(Decimal("12.5"), "JPY") == Decimal("13")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")
    assert format_money(Decimal("0.005"), "GBP") == "0.005"
    assert format_money(Decimal("125"), "GBP") == "125.00"


THREE = {"api": "1000.00", "web": "600.00", "worker": "400.00"}


def _three_service_events(basis: str) -> list[JSON]:
    return [
        contract(services=THREE, credit_basis=basis),
        # api: 50 counted minutes (99.888 %), web: 500 (98.88 %), worker: none
        *probes_every_minute("api", "2026-03-02T00:00:00Z", 50, ok=False),
        *probes_every_minute("web", "2026-03-03T00:00:00Z", 500, ok=False),
        *probes_every_minute("worker", "2026-03-04T00:00:00Z", 10, ok=True),
    ]


def test_platform_basis_credits_affected_services_at_the_platform_tier() -> None:
    st = _statement(_three_service_events("platform"), "2026-03")
    assert st["counted_downtime_minutes"] == 550
    assert st["uptime_percent"] == "98.7679"
    assert st["credit_percent"] == "30"
    assert st["affected_services"] == ["api", "web"]
    # 30 % of (1000 + 600); the worker was never down
    assert st["credit_amount"] == "480.00"
    assert st["services"]["worker"]["credit_amount"] == "0.00"
    assert st["services"]["api"]["credit_percent"] == "30"


def test_per_service_basis_uses_each_service_own_tier() -> None:
    st = _statement(_three_service_events("per_service"), "2026-03")
    assert st["services"]["api"]["uptime_percent"] == "99.8879"
    assert st["services"]["api"]["credit_percent"] == "10"
    assert st["services"]["web"]["credit_percent"] == "30"
    assert st["services"]["worker"]["credit_percent"] == "0"
    # 10 % of 1000 + 30 % of 600
    assert st["credit_amount"] == "280.00"
    assert st["credit_percent"] == "30"
    # the headline uptime is still the contract-level count
    assert st["uptime_percent"] == "98.7679"


def test_two_half_penny_credits_round_once() -> None:
    events = [
        contract(services={"a": "0.05", "b": "0.05"}, credit_basis="per_service"),
        *probes_every_minute("a", "2026-03-02T00:00:00Z", 50, ok=False),
        *probes_every_minute("b", "2026-03-03T00:00:00Z", 50, ok=False),
    ]
    st = _statement(events, "2026-03")
    assert st["services"]["a"]["credit_amount"] == "0.005"
    assert st["services"]["b"]["credit_amount"] == "0.005"
    assert st["credit_amount"] == "0.01"


def test_custom_tiers_and_target() -> None:
    events = [
        contract(
            uptime_target="99.95",
            credit_tiers=[
                {"below": "99.95", "credit_percent": "5"},
                {"below": "99.5", "credit_percent": "25"},
            ],
        ),
        *probes_every_minute("api", "2026-03-02T00:00:00Z", 23, ok=False),
    ]
    st = _statement(events, "2026-03")
    assert st["error_budget_minutes"] == 22
    assert st["meets_target"] is False
    assert st["credit_percent"] == "5"
    assert st["credit_amount"] == "50.00"
