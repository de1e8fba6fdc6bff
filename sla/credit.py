"""Exact uptime, error budgets, credit tiers and money (SPEC sections 4 and 5).

No float ever decides anything here: uptime is a ``Fraction``, tiers and
targets are ``Decimal`` compared exactly, money is ``Decimal`` rounded
half-up to the currency's minor unit once, at the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from functools import lru_cache

from sla.model import CreditTier

#: ISO 4217 currencies whose minor unit is not two digits.
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


def minor_unit(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (ISO 4217; 2 unless listed)."""
    return _MINOR_UNITS.get(currency, 2)


def uptime(minutes: int, counted_down: int) -> Fraction:
    """Uptime as an exact percentage ``(M - D) / M * 100``; 100 when ``M`` is 0."""
    if minutes <= 0:
        return Fraction(100)
    return Fraction((minutes - counted_down) * 100, minutes)


def format_percent(value: Fraction) -> str:
    """Floor to 4 decimals, so ``99.9000`` can never hide a breach."""
    q = math.floor(value * 10_000)
    return f"{q // 10_000}.{q % 10_000:04d}"


def meets_target(minutes: int, counted_down: int, target: Decimal) -> bool:
    """``uptime >= target`` exactly (``1000 * D <= M`` at 99.9 %)."""
    return uptime(minutes, counted_down) >= Fraction(target)


@lru_cache(maxsize=4096)
def error_budget(minutes: int, target: Decimal) -> int:
    """Whole minutes of allowed downtime: ``floor(M * (1 - target/100))``."""
    return math.floor(minutes * (1 - Fraction(target) / 100))


def credit_percent(uptime_percent: Fraction, tiers: Iterable[CreditTier]) -> Decimal:
    """The highest ``credit_percent`` among tiers whose ``below`` exceeds uptime; else 0."""
    best = Decimal(0)
    for tier in tiers:
        if uptime_percent < Fraction(tier.below) and tier.credit_percent > best:
            best = tier.credit_percent
    return best


def minutes_until_tier(minutes: int, counted_down: int, below: Decimal) -> int:
    """More counted minutes that would push uptime strictly below ``below`` percent.

    0 when uptime is already below it.
    """
    # Smallest D' with (M - D') * 100 < below * M  <=>  D' > M - below*M/100.
    threshold = minutes - Fraction(below) * minutes / 100
    first_bad = math.floor(threshold) + 1
    return max(0, first_bad - counted_down)


#: wide enough that a percentage of a charge is never rounded (both are short decimals)
_EXACT = Context(prec=80)
_HUNDRED = Decimal(100)


def charge_share(percent: Decimal, charge: Decimal) -> Decimal:
    """``percent`` of ``charge``, exactly (no rounding)."""
    return _EXACT.divide(_EXACT.multiply(percent, charge), _HUNDRED)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (done once per contract and month)."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


# Equal decimals (10 and 10.0) have one text here, so the text of one serves both.
@lru_cache(maxsize=65_536)
def format_decimal(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros (``"10"``, ``"99.9"``)."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


@lru_cache(maxsize=65_536)
def format_money(amount: Decimal, currency: str) -> str:
    """Money as text: at least the currency's minor digits, never rounded away."""
    minor = Decimal(1).scaleb(-minor_unit(currency))
    q = amount.quantize(minor, rounding=ROUND_HALF_UP)
    if q == amount:
        return format(q, "f")
    return format(amount.normalize(), "f")
