"""A monthly report's claims in words: each decision and each claimed interval.

Pure functions of claim decisions and the contract-month statement they
are about, used by :mod:`reports.month_data`: why a claim was rejected, why
an accepted one may earn nothing, and per claimed interval why it was
accepted, late or matched no counted downtime (excluded, up or silent).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from reports.explain import CAUSE_WORDS, CLAIM_WINDOW_DAYS, n
from sla.model import JSON
from sla.timeutil import parse_instant

__all__ = ["claim_intervals", "claim_words"]


def _overlaps(a: str, b: str, c: str, d: str) -> bool:
    return parse_instant(a) < parse_instant(d) and parse_instant(c) < parse_instant(b)


def _late_words(submitted: str, rounded_end: str) -> str:
    minutes = int((parse_instant(submitted) - parse_instant(rounded_end)).total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours = rest // 60
    after = f"{days} days" + (f" {hours} hours" if hours else "")
    return (
        f"claimed {after} after the incident ended; the SLA allows {CLAIM_WINDOW_DAYS} days "
        f"({n(CLAIM_WINDOW_DAYS * 1440)} minutes)"
    )


def _unmatched_words(iv: JSON, statement: JSON) -> str:
    """Why an interval matched no counted downtime, from the statement's periods."""
    a, b = iv["rounded_start"], iv["rounded_end"]
    excluded = [
        p for p in statement.get("excluded_periods") or [] if _overlaps(a, b, p["start"], p["end"])
    ]
    if excluded:
        causes = sorted({p["excluded_cause"] for p in excluded})
        ids = sorted({i for p in excluded for i in p.get("incident_ids") or []})
        words = ", ".join(CAUSE_WORDS.get(c, c) for c in causes)
        return f"excluded: {words}" + (f", {', '.join(ids)}" if ids else "")
    start, end = parse_instant(statement["period_start"]), parse_instant(statement["period_end"])
    if not (parse_instant(a) < end and start < parse_instant(b)):
        return "no counted downtime in the claimed interval (outside the month shown)"
    for s in (statement.get("services") or {}).values():
        if any(_overlaps(a, b, x, y) for x, y in s.get("no_data_periods") or []):
            return (
                "no counted downtime: the claimed minutes were up or had no data "
                f"(no data counts as {statement.get('no_data_policy', 'up')})"
            )
    return "no counted downtime in the claimed interval: the service was up"


_DECISION_WORDS = {
    "unknown_contract": "rejected: no contract with this Purchase Order",
    "bad_subject": 'rejected: the subject was not "SLA Credit Request"',
    "no_accepted_interval": "rejected: no claimed interval was accepted (see each interval)",
}


def claim_words(claim: JSON, statement: JSON) -> str:
    """The decision on a claim in words, including why an accepted one may earn nothing."""
    if claim["decision"] != "accepted":
        return _DECISION_WORDS.get(str(claim.get("reason")), f"rejected: {claim.get('reason')}")
    credit = Decimal(claim.get("credit_total") or 0)
    mins = int(claim.get("minutes_accepted", 0))
    if credit > 0:
        return f"accepted: {n(mins)} counted minutes, credit {n(credit)} {claim.get('currency')}"
    ups = ", ".join(
        f"{c['month']} uptime {c['uptime_percent']} %" for c in claim.get("credits") or []
    )
    return (
        f"accepted: {n(mins)} counted minutes, but the uptime they leave ({ups}) is not "
        "below any credit tier, so the credit is 0"
    )


def claim_intervals(claims: Sequence[JSON], statement: JSON) -> list[JSON]:
    """Every claimed interval of every claim with its own verdict and the reason in words."""
    rows = []
    for c in claims:
        for iv in c.get("intervals") or []:
            if iv["verdict"] == "accepted":
                words = f"accepted: {n(int(iv['minutes_accepted']))} counted minutes"
            elif iv.get("reason") == "out_of_window":
                words = _late_words(c["submitted_at"], iv["rounded_end"])
            else:
                words = _unmatched_words(iv, statement)
            rows.append(
                {
                    "claim_id": c["claim_id"],
                    "start": iv["rounded_start"],
                    "end": iv["rounded_end"],
                    "verdict": iv["verdict"],
                    "reason": iv.get("reason") or "-",
                    "minutes_accepted": iv["minutes_accepted"],
                    "explanation": words,
                }
            )
    return rows
