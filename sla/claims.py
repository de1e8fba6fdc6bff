"""Adjudication of "SLA Credit Request" claims (SPEC section 7).

A claim is checked against the contract-level counted-down minutes as of
``as_of``. Each claimed interval gets its own verdict; the credit is
computed, per month of the contract, from the counted-down minutes inside
the accepted intervals only, with the contract's basis and tiers, so a
claim never earns more than the month's statement shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sla.book import Book
from sla.credit import (
    charge_share,
    credit_percent,
    format_decimal,
    format_money,
    format_percent,
    round_money,
    uptime,
)
from sla.model import JSON, Claim, Contract, CreditBasis
from sla.months import months_overlapping
from sla.statements import contract_windows, in_force
from sla.summaries import Run, ServiceWindow, overlap, union
from sla.timeutil import format_instant, format_minute, minute_start, round_minute

CLAIM_SUBJECT = "sla credit request"


class _MonthEval:
    """A contract's services over its in-force minutes of one month, and their counted union."""

    __slots__ = ("counted", "end", "first", "services")

    def __init__(self, first: int, end: int, services: tuple[ServiceWindow, ...]) -> None:
        self.first = first
        self.end = end
        self.services = services
        self.counted = union([w.counted for w in services])

    @property
    def minutes(self) -> int:
        return self.end - self.first


def _rejected(claim: Claim, reason: str, as_of: datetime, client_id: str | None) -> JSON:
    return {
        "kind": "claim_decision",
        "claim_id": claim.claim_id,
        "contract_id": claim.contract_id,
        "client_id": client_id,
        "submitted_at": format_instant(claim.submitted_at),
        "decision": "rejected",
        "reason": reason,
        "intervals": [],
        "minutes_accepted": 0,
        "credits": [],
        "credit_total": None,
        "currency": None,
        "computed_at": format_instant(as_of),
    }


class _Months:
    """The contract's month evaluations as of ``as_of``, each computed once, keyed by month.

    ``evals[key]`` is None for a month the contract is not in force in or
    has no windows for.
    """

    __slots__ = ("as_of", "book", "contract", "evals")

    def __init__(self, book: Book, contract: Contract, as_of: datetime) -> None:
        self.book = book
        self.contract = contract
        self.as_of = as_of
        self.evals: dict[str, _MonthEval | None] = {}

    def overlapping(self, a: int, b: int) -> list[_MonthEval]:
        """The evaluations of the months ``[a, b)`` overlaps, evaluating any not seen yet."""
        contract = self.contract
        evals = self.evals
        seen: list[_MonthEval] = []
        for month in months_overlapping(a, b, contract.timezone):
            key = str(month)
            if key not in evals:
                span = in_force(contract, month)
                windows = contract_windows(self.book, contract, month, self.as_of)
                evals[key] = (
                    None
                    if span is None or windows is None
                    else _MonthEval(span[0], span[1], windows)
                )
            ev = evals[key]
            if ev is not None:
                seen.append(ev)
        return seen


def _interval_verdicts(
    claim: Claim, window: timedelta, months: _Months
) -> tuple[list[JSON], list[tuple[int, int]]]:
    """(a verdict per claimed interval, the accepted intervals rounded to minutes)."""
    verdicts = []
    accepted: list[tuple[int, int]] = []
    for iv in claim.intervals:
        a, b = round_minute(iv.start), round_minute(iv.end)
        rec: JSON = {
            "start": format_instant(iv.start),
            "end": format_instant(iv.end),
            "rounded_start": format_minute(a),
            "rounded_end": format_minute(b),
            "verdict": "rejected",
            "reason": None,
            "minutes_accepted": 0,
        }
        if claim.submitted_at > minute_start(b) + window:
            rec["reason"] = "out_of_window"
        else:
            counted = sum(overlap(ev.counted, [(a, b)]) for ev in months.overlapping(a, b) if b > a)
            if counted == 0:
                rec["reason"] = "no_matching_downtime"
            else:
                rec.update(verdict="accepted", minutes_accepted=counted)
                accepted.append((a, b))
        verdicts.append(rec)
    return verdicts, accepted


def _credit_amount(
    contract: Contract, ev: _MonthEval, mask: tuple[Run, ...], claimed_c: int
) -> tuple[Decimal, Decimal]:
    """(credit percent, unrounded amount) of one month for the minutes ``mask`` accepts."""
    amount = Decimal(0)
    if contract.credit_basis is CreditBasis.PLATFORM:
        pct = credit_percent(uptime(ev.minutes, claimed_c), contract.credit_tiers)
        for s in ev.services:
            if overlap(s.counted, mask):
                amount += charge_share(pct, contract.charge(s.service))
    else:
        pct = Decimal(0)
        for s in ev.services:
            own = credit_percent(
                uptime(ev.minutes, overlap(s.counted, mask)), contract.credit_tiers
            )
            pct = max(pct, own)
            amount += charge_share(own, contract.charge(s.service))
    return pct, amount


def _credits(
    contract: Contract, evals: dict[str, _MonthEval | None], accepted: list[tuple[int, int]]
) -> tuple[list[JSON], int, Decimal]:
    """(a credit per month with accepted counted minutes, their minutes, their rounded total)."""
    credits = []
    total_minutes = 0
    total = Decimal(0)
    for key in sorted(evals):
        month_ev = evals[key]
        if month_ev is None:
            continue
        ev = month_ev
        mask = union(
            [
                [(max(a, ev.first), min(b, ev.end))]
                for a, b in accepted
                if min(b, ev.end) > max(a, ev.first)
            ]
        )
        if not mask:
            continue
        claimed_c = overlap(ev.counted, mask)
        if claimed_c == 0:
            continue
        total_minutes += claimed_c
        pct, amount = _credit_amount(contract, ev, mask, claimed_c)
        rounded = round_money(amount, contract.currency)
        total += rounded
        credits.append(
            {
                "month": key,
                "claimed_counted_minutes": claimed_c,
                "uptime_percent": format_percent(uptime(ev.minutes, claimed_c)),
                "credit_percent": format_decimal(pct),
                "credit_amount": format(rounded, "f"),
            }
        )
    return credits, total_minutes, total


def decide_claim(book: Book, claim: Claim, as_of: datetime, window: timedelta) -> JSON:
    """The decision on ``claim`` as of ``as_of``; deterministic for the same book."""
    contract = book.contract(claim.contract_id)
    if contract is None:
        return _rejected(claim, "unknown_contract", as_of, None)
    if claim.subject.strip().lower() != CLAIM_SUBJECT:
        return _rejected(claim, "bad_subject", as_of, contract.client_id)

    months = _Months(book, contract, as_of)
    verdicts, accepted = _interval_verdicts(claim, window, months)
    credits, total_minutes, total = _credits(contract, months.evals, accepted)

    any_accepted = bool(accepted)
    return {
        "kind": "claim_decision",
        "claim_id": claim.claim_id,
        "contract_id": claim.contract_id,
        "client_id": contract.client_id,
        "submitted_at": format_instant(claim.submitted_at),
        "decision": "accepted" if any_accepted else "rejected",
        "reason": None if any_accepted else "no_accepted_interval",
        "intervals": verdicts,
        "minutes_accepted": total_minutes,
        "credits": credits,
        "credit_total": format_money(total, contract.currency),
        "currency": contract.currency,
        "computed_at": format_instant(as_of),
    }


def all_claim_decisions(book: Book, as_of: datetime) -> list[JSON]:
    """A decision for every claim submitted by ``as_of``, by ``claim_id``."""
    out = []
    for cid in sorted(book.claims):
        claim = book.claim(cid)
        if claim.submitted_at <= as_of:
            out.append(decide_claim(book, claim, as_of, book.settings.claim_window))
    return out
