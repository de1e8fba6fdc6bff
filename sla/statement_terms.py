"""A contract's terms as a statement applies them (SPEC sections 4-6, 9).

The terms a window is evaluated under, the minutes a contract is in force,
its credit tiers and target worked out once per window length, the credit of
a contract-month, the text of its percentages and coverage, and the
alternative readings of an ambiguous contract with what each gives.
Re-exported by :mod:`sla.statements`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from sla.credit import (
    charge_share,
    format_decimal,
    format_percent,
    minutes_until_tier,
    round_money,
    uptime,
)
from sla.evaluate import Terms
from sla.model import (
    DEFAULT_EXCLUDED,
    JSON,
    Cause,
    Contract,
    CreditBasis,
    CreditTier,
    NoDataPolicy,
)
from sla.months import Month, month_bounds
from sla.summaries import Bounded, ServiceWindow, contract_figures, format_minute
from sla.timeutil import epoch_minute_ceil

DEFAULT_TERMS = Terms(DEFAULT_EXCLUDED, NoDataPolicy.UP, True)
DEFAULT_TARGET = Decimal("99.9")


def terms_of(contract: Contract) -> Terms:
    return Terms(contract.excluded_causes, contract.no_data_policy, contract.declared_outage_counts)


def in_force(contract: Contract, month: Month) -> tuple[int, int] | None:
    """Epoch minutes ``[first, end)`` of ``month`` during which ``contract`` is in force."""
    a, b = month_bounds(month, contract.timezone)
    if contract.effective_from is not None:
        a = max(a, epoch_minute_ceil(contract.effective_from))
    if contract.effective_to is not None:
        b = min(b, epoch_minute_ceil(contract.effective_to))
    return (a, b) if b > a else None


# -- figures, thresholds and credit of a window -----------------------------------


@lru_cache(maxsize=65_536)
def _percent_text(minutes: int, counted: int) -> str:
    return format_percent(uptime(minutes, counted))


_ZERO = Decimal(0)
#: money terms worked out per contract revision, by identity (each entry holds its contract)
_MONEY = Bounded(65_536)


def _terms_of(contract: Contract) -> _Terms:
    held = _MONEY.get(id(contract))
    if held is not None and held.contract is contract:
        terms: _Terms = held
        return terms
    terms = _Terms(contract)
    _MONEY.put(id(contract), terms)
    return terms


#: tier thresholds by window length, tiers (by identity: revisions and readings share them)
#: and target; each entry holds its tiers
_THRESHOLDS = Bounded(65_536)


def _thresholds(
    m: int, tiers: tuple[CreditTier, ...], target: Decimal
) -> tuple[int, tuple[tuple[int, Decimal], ...]]:
    key = (m, id(tiers), target)
    held = _THRESHOLDS.get(key)
    if held is not None and held[0] is tiers:
        table: tuple[int, tuple[tuple[int, Decimal], ...]] = held[1]
        return table
    table = (
        minutes_until_tier(m, 0, target),
        tuple((minutes_until_tier(m, 0, t.below), t.credit_percent) for t in tiers),
    )
    _THRESHOLDS.put(key, (tiers, table))
    return table


class _Terms:
    """What a contract's money terms give for a window of ``m`` minutes, worked out once.

    ``uptime < below`` exactly when ``counted >= floor(m - below * m / 100) + 1``,
    so a tier or the target is an integer comparison per statement.
    """

    __slots__ = ("_first_bad", "charges", "contract", "target_text", "tiers_json")

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.charges = {s.service: s.monthly_charge for s in contract.services}
        self.target_text = format_decimal(contract.uptime_target)
        self.tiers_json = [
            {"below": format_decimal(t.below), "credit_percent": format_decimal(t.credit_percent)}
            for t in contract.credit_tiers
        ]
        self._first_bad: dict[int, tuple[int, tuple[tuple[int, Decimal], ...]]] = {}

    def _table(self, m: int) -> tuple[int, tuple[tuple[int, Decimal], ...]]:
        held = self._first_bad.get(m)
        if held is None:
            held = self._first_bad[m] = _thresholds(
                m, self.contract.credit_tiers, self.contract.uptime_target
            )
        return held

    def tier(self, m: int, counted: int) -> Decimal:
        """``credit_percent(uptime(m, counted), tiers)``."""
        best = _ZERO
        for first_bad, pct in self._table(m)[1]:
            if counted >= first_bad and pct > best:
                best = pct
        return best

    def meets(self, m: int, counted: int) -> bool:
        """``meets_target(m, counted, target)``."""
        return counted < self._table(m)[0]


def elapsed_minutes(first: int, end: int, now: int) -> int:
    """Minutes of ``[first, end)`` that have begun by epoch minute ``now`` (a ceiling)."""
    return max(0, min(end, now) - first)


def coverage_text(elapsed: int, with_data: int) -> str:
    """Monitoring coverage: ``with_data / elapsed`` as a percentage floored to 4 decimals.

    Floored like uptime, so a coverage shown as ``95.0000`` never hides a
    shortfall; nothing elapsed yet is ``0.0000`` (nothing was observed).
    """
    if elapsed <= 0:
        return "0.0000"
    return _percent_text(elapsed, elapsed - with_data)


def _minute_figures(w: ServiceWindow, m: int, elapsed: int) -> JSON:
    """A service's minute counts, uptime and coverage over a window of ``m`` minutes.

    SPEC section 6; ``elapsed`` of the ``m`` minutes have begun.
    """
    return {
        "up_minutes": w.n_up,
        "down_minutes": w.n_down,
        "counted_downtime_minutes": w.n_counted,
        "excluded_minutes": w.excluded_minutes(),
        "no_data_minutes": w.n_no_data,
        "uptime_percent": _percent_text(m, w.n_counted),
        "coverage_percent": coverage_text(elapsed, elapsed - w.n_no_data),
    }


@dataclass(frozen=True, slots=True)
class _Credit:
    """The credit of one contract-month: per service, then in total."""

    top_percent: Decimal
    total: Decimal
    per_service: tuple[tuple[Decimal, Decimal], ...]


def _credit(
    c: Contract, t: _Terms, m: int, counted: int, windows: Sequence[ServiceWindow]
) -> _Credit:
    platform = t.tier(m, counted)
    per: list[tuple[Decimal, Decimal]] = []
    total = _ZERO
    top = _ZERO
    basis_platform = c.credit_basis is CreditBasis.PLATFORM
    for w in windows:
        own = t.tier(m, w.n_counted) if not basis_platform else platform
        pct = own if w.n_counted > 0 or not basis_platform else _ZERO
        if pct:
            amount = charge_share(pct, t.charges[w.service])
            total += amount
            if pct > top:
                top = pct
        else:
            amount = _ZERO
        per.append((pct, amount))
    if basis_platform:
        top = platform if any(w.n_counted for w in windows) else _ZERO
    return _Credit(top, total, tuple(per))


def _minutes_runs(rs: Sequence[tuple[int, int]]) -> list[list[str]]:
    return [[format_minute(a), format_minute(b)] for a, b in rs]


# -- readings (SPEC section 9) ---------------------------------------------------


def readings_of(contract: Contract) -> list[tuple[str, str, Contract]]:
    """The alternative readings of an ambiguous contract, one setting flipped each."""
    alt_tz = "UTC" if contract.timezone != "UTC" else "Europe/London"
    fm = Cause.FORCE_MAJEURE
    if fm in contract.excluded_causes:
        fm_name, fm_text = "force_majeure_counted", "force-majeure minutes count as downtime"
        fm_causes = contract.excluded_causes - {fm}
    else:
        fm_name, fm_text = "force_majeure_excluded", "force-majeure minutes are excluded"
        fm_causes = contract.excluded_causes | {fm}
    other_basis = (
        CreditBasis.PER_SERVICE
        if contract.credit_basis is CreditBasis.PLATFORM
        else CreditBasis.PLATFORM
    )
    other_nd = NoDataPolicy.DOWN if contract.no_data_policy is NoDataPolicy.UP else NoDataPolicy.UP
    rep = dataclasses.replace
    return [
        (
            f"timezone_{alt_tz}",
            f"months are calendar months in {alt_tz}",
            rep(contract, timezone=alt_tz),
        ),
        (
            f"credit_basis_{other_basis.value}",
            f"credit basis {other_basis.value}",
            rep(contract, credit_basis=other_basis),
        ),
        (fm_name, fm_text, rep(contract, excluded_causes=fm_causes)),
        (
            f"no_data_{other_nd.value}",
            f"minutes without data count as {other_nd.value}",
            rep(contract, no_data_policy=other_nd),
        ),
    ]


Reading = tuple[str, str, Contract, tuple[int, int], tuple[ServiceWindow, ...]]


def compute_readings(own_amount: Decimal, alternatives: Sequence[Reading]) -> list[JSON]:
    """The statement under each alternative reading, with the credit difference.

    ``alternatives`` are :func:`readings_of` with each reading's windows
    (readings that put the contract out of force in the month are left out).
    """
    out = []
    for name, text, alt, (first, end), windows in alternatives:
        m = end - first
        d = contract_figures(first, end, windows).counted
        credit = _credit(alt, _terms_of(alt), m, d, windows)
        amount = round_money(credit.total, alt.currency)
        out.append(
            {
                "reading": name,
                "description": text,
                "uptime_percent": _percent_text(m, d),
                "counted_downtime_minutes": d,
                "credit_percent": format_decimal(credit.top_percent),
                "credit_amount": format(amount, "f"),
                "difference": format(amount - own_amount, "f"),
                "differs": amount != own_amount,
            }
        )
    return out
