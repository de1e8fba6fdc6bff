"""What a monthly report says in words: coverage, the month's progress, the credit's working.

Pure functions of a contract-month statement and its claim decisions, used
by :mod:`reports.month` and by the ``--min-coverage`` checks of ``replay``
and ``report``. Every figure is taken from the statement or recomputed
exactly from its integers (``Fraction`` and ``Decimal``, never a float), so a
reader can redo each step by hand.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from sla.book import Settings
from sla.model import JSON
from sla.timeutil import parse_instant

#: The vendor and the claim address of the SLA text (section "Service Credits").
DEFAULT_VENDOR = "LeadPro"
DEFAULT_CLAIM_EMAIL = "contact@lead.pro"
DEFAULT_LOW_COVERAGE = Decimal(95)
#: the rules' claim window (SPEC section 7), in whole days
CLAIM_WINDOW_DAYS = Settings().claim_window.days

#: how a report names each excluded cause (the SLA's own words where it has them)
CAUSE_WORDS = {
    "aws": "AWS host downtime",
    "force_majeure": "Force Majeure",
    "third_party": "third-party downtime",
    "maintenance": "maintenance",
    "internal": "internal",
}


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """Who the report speaks for and when it warns about coverage.

    From the environment: ``AVAILABILITY_VENDOR_NAME``,
    ``AVAILABILITY_CLAIM_EMAIL`` and ``AVAILABILITY_LOW_COVERAGE`` (a
    percentage); the defaults are the SLA text's and 95 %.
    """

    vendor_name: str = DEFAULT_VENDOR
    claim_email: str = DEFAULT_CLAIM_EMAIL
    low_coverage_percent: Decimal = DEFAULT_LOW_COVERAGE


def parse_percent(text: str) -> Decimal:
    """A percentage 0-100 as an exact ``Decimal``; ``ValueError`` otherwise."""
    try:
        value = Decimal(text.strip().rstrip("%").strip())
    except InvalidOperation:
        raise ValueError(f"not a percentage: {text!r} (e.g. 95 or 99.5)") from None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
        raise ValueError(f"a percentage is between 0 and 100, not {text!r}")
    return value


def report_settings(env: Mapping[str, str] | None = None) -> ReportSettings:
    """The settings of ``env`` (default: the process environment); ``ValueError`` if bad."""
    env = os.environ if env is None else env
    low = env.get("AVAILABILITY_LOW_COVERAGE", "").strip()
    return ReportSettings(
        vendor_name=env.get("AVAILABILITY_VENDOR_NAME", "").strip() or DEFAULT_VENDOR,
        claim_email=env.get("AVAILABILITY_CLAIM_EMAIL", "").strip() or DEFAULT_CLAIM_EMAIL,
        low_coverage_percent=parse_percent(low) if low else DEFAULT_LOW_COVERAGE,
    )


# -- coverage and the month's progress ------------------------------------------


def below_coverage(outputs: Iterable[JSON], minimum: Decimal) -> list[JSON]:
    """The contract-month statements whose ``coverage_percent`` is below ``minimum``."""
    return [
        o
        for o in outputs
        if o.get("kind") == "contract_month" and Decimal(time_and_coverage(o)[3]) < minimum
    ]


def coverage_failure(low: Sequence[JSON], minimum: Decimal) -> str:
    """One line naming every contract-month of ``low`` with its coverage."""
    named = ", ".join(f"{o['contract_id']} {o['month']} ({time_and_coverage(o)[3]} %)" for o in low)
    return (
        f"monitoring coverage below {minimum} % in {len(low)} contract-month"
        f"{'' if len(low) == 1 else 's'}: {named}"
    )


def n(value: int | str | Decimal) -> str:
    """A number with thousands separators (``44,640``, ``1,250.00``)."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{Decimal(value):,}"


def _elapsed_of(statement: JSON) -> int:
    """Elapsed minutes of a statement stored before statements carried them."""
    m = int(statement["minutes_in_month"])
    if statement.get("status") in ("final", "revised") or "computed_at" not in statement:
        return m
    start = parse_instant(statement["period_start"])
    at = parse_instant(statement["computed_at"])
    return max(0, min(m, math.ceil((at - start).total_seconds() / 60)))


def time_and_coverage(statement: JSON) -> tuple[int, int, int, str]:
    """Elapsed, remaining and data minutes and coverage, derived when the statement predates them.

    A statement stored before they existed gets them from its status,
    ``computed_at`` and contract-level no-data minutes.
    """
    m = int(statement["minutes_in_month"])
    if "coverage_percent" in statement:
        return (
            int(statement["elapsed_minutes"]),
            int(statement["remaining_minutes"]),
            int(statement["data_minutes"]),
            str(statement["coverage_percent"]),
        )
    elapsed = _elapsed_of(statement)
    data = max(0, elapsed - int(statement.get("no_data_minutes", 0)))
    cover = _floor4(Fraction(data * 100, elapsed)) if elapsed else "0.0000"
    return elapsed, m - elapsed, data, cover


def progress(statement: JSON, settings: ReportSettings) -> JSON:
    """Coverage, elapsed and remaining minutes, and the banners the report shows on top."""
    m = int(statement["minutes_in_month"])
    elapsed, remaining, data, coverage = time_and_coverage(statement)
    banners: list[JSON] = []
    if remaining > 0:
        banners.append(
            {
                "kind": "month_in_progress",
                "text": f"Month in progress: {n(elapsed)} of {n(m)} minutes elapsed, "
                f"{n(remaining)} still to come. The figures are provisional and count "
                "the minutes to come as up.",
            }
        )
    if Decimal(coverage) < settings.low_coverage_percent:
        without = elapsed - data
        banners.append(
            {
                "kind": "low_coverage",
                "text": f"Low monitoring coverage: {coverage} % of the elapsed minutes have "
                f"data (below {settings.low_coverage_percent} %); {n(without)} minutes had "
                f"no data from at least one service and count as "
                f"{statement.get('no_data_policy', 'up')}.",
            }
        )
    return {
        "minutes_in_month": m,
        "elapsed_minutes": elapsed,
        "remaining_minutes": remaining,
        "data_minutes": data,
        "coverage_percent": coverage,
        "in_progress": remaining > 0,
        "banners": banners,
    }


# -- the credit's working -------------------------------------------------------


def _uptime(m: int, d: int) -> Fraction:
    return Fraction(100) if m <= 0 else Fraction((m - d) * 100, m)


def _floor4(value: Fraction) -> str:
    q = math.floor(value * 10_000)
    return f"{q // 10_000}.{q % 10_000:04d}"


#: the SLA's terms, for statements stored before they carried their own
_SLA_TARGET = "99.9"
_SLA_TIERS = ({"below": "99.9", "credit_percent": "10"}, {"below": "99", "credit_percent": "30"})


def _terms(statement: JSON) -> tuple[Decimal, list[JSON]]:
    tiers = statement.get("credit_tiers")
    return (
        Decimal(statement.get("uptime_target") or _SLA_TARGET),
        list(_SLA_TIERS if tiers is None else tiers),
    )


def tier_table(statement: JSON) -> list[JSON]:
    """The contract's tiers from the best band down, each with its uptime range and percent."""
    target, listed = _terms(statement)
    tiers = sorted(
        ((Decimal(t["below"]), Decimal(t["credit_percent"])) for t in listed),
        reverse=True,
    )
    applied = Decimal(statement["credit_percent"])
    top = tiers[0][0] if tiers else target
    rows = [{"uptime": f">= {top} %", "credit_percent": "0", "applies": applied == 0}]
    for i, (below, pct) in enumerate(tiers):
        lower = tiers[i + 1][0] if i + 1 < len(tiers) else None
        band = f"{lower} % to < {below} %" if lower is not None else f"< {below} %"
        rows.append({"uptime": band, "credit_percent": str(pct), "applies": pct == applied})
    return rows


def _tier_of(uptime: Fraction, statement: JSON) -> Decimal:
    best = Decimal(0)
    for t in _terms(statement)[1]:
        if uptime < Fraction(Decimal(t["below"])) and Decimal(t["credit_percent"]) > best:
            best = Decimal(t["credit_percent"])
    return best


def _tier_words(uptime: Fraction, pct: Decimal, statement: JSON) -> str:
    if pct == 0:
        return f"not below any tier: {pct} % credit"
    belows = [
        Decimal(t["below"])
        for t in _terms(statement)[1]
        if Decimal(t["credit_percent"]) == pct and uptime < Fraction(Decimal(t["below"]))
    ]
    return f"below {min(belows)} %: {pct} % credit" if belows else f"{pct} % credit"


def working(statement: JSON) -> list[str]:
    """The steps from minutes to uptime to tier to amount, one line each."""
    st = statement
    m, d = int(st["minutes_in_month"]), int(st["counted_downtime_minutes"])
    cur = st["currency"]
    excluded = st.get("excluded_minutes") or {}
    excl = "; ".join(f"{CAUSE_WORDS.get(k, k)} {n(v)}" for k, v in excluded.items() if v)
    up = _uptime(m, d)
    target = _terms(st)[0]
    lines = [
        f"Minutes in the month M = {n(m)} ({st['period_start']} to {st['period_end']}, "
        f"months in {st['timezone']})",
        f"Counted downtime D = {n(d)} minutes (down {n(int(st['down_minutes']))}, of which "
        f"excluded {n(int(st['down_minutes']) - d)}{': ' + excl if excl else ''}; "
        f"{n(int(st['no_data_minutes']))} minutes without data count as "
        f"{st.get('no_data_policy', 'up')})",
        f"Uptime = (M - D) / M = ({n(m)} - {n(d)}) / {n(m)} = {_floor4(up)} % "
        "(floored to 4 decimals)",
        f"Target {target} %: {'met' if up >= Fraction(target) else 'missed'}",
    ]
    services = st.get("services") or {}
    if st["credit_basis"] == "platform":
        pct = _tier_of(up, st)
        lines.append(f"Tier (platform uptime {_floor4(up)} %): {_tier_words(up, pct, st)}")
        lines.append(
            "Credit: the tier's percent of the monthly charge of each service with counted downtime"
        )
        for name, s in services.items():
            if int(s["counted_downtime_minutes"]) > 0:
                lines.append(
                    f"  {name}: {s['credit_percent']} % x {n(s['monthly_charge'])} = "
                    f"{n(s['credit_amount'])} {cur}"
                )
            else:
                lines.append(f"  {name}: no counted downtime, no credit")
    else:
        lines.append("Credit: each service's own uptime picks its tier, applied to its charge")
        for name, s in services.items():
            sd = int(s["counted_downtime_minutes"])
            su = _uptime(m, sd)
            pct = _tier_of(su, st)
            lines.append(
                f"  {name}: ({n(m)} - {n(sd)}) / {n(m)} = {_floor4(su)} %, "
                f"{_tier_words(su, pct, st)}: {s['credit_percent']} % x "
                f"{n(s['monthly_charge'])} = {n(s['credit_amount'])} {cur}"
            )
    lines.append(
        f"Total credit = {n(st['credit_amount'])} {cur} (rounded half-up once, at the end)"
    )
    return lines


def charges(statement: JSON) -> list[JSON]:
    """One row per service: its monthly charge and what the month makes of it."""
    return [
        {
            "service": name,
            "monthly_charge": s["monthly_charge"],
            "counted_downtime_minutes": s["counted_downtime_minutes"],
            "uptime_percent": s["uptime_percent"],
            "coverage_percent": s.get("coverage_percent", "-"),
            "credit_percent": s["credit_percent"],
            "credit_amount": s["credit_amount"],
        }
        for name, s in (statement.get("services") or {}).items()
    ]


__all__ = [
    "ReportSettings",
    "below_coverage",
    "charges",
    "coverage_failure",
    "parse_percent",
    "progress",
    "report_settings",
    "tier_table",
    "working",
]
