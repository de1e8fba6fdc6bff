"""Adjudication of "SLA Credit Request" claims (SPEC section 7).

A claim is checked against the contract-level counted-down minutes as of
``as_of``. Each claimed interval gets its own verdict; the credit is
computed, per month of the contract, from the counted-down minutes inside
the accepted intervals only, with the contract's basis and tiers, so a
claim never earns more than the month's statement shows.

Kept here as the reference for the shared evaluation (see
``statements_ref``); ``decide_claim`` runs over 60 lines for the reason given
there: the oracle stays as it was, in one piece.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

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
from sla.model import JSON, Claim, CreditBasis
from sla.months import months_overlapping
from sla.timeutil import format_instant, format_minute, minute_start, round_minute
from tests.oracle.statements_ref import ContractEval, evaluate_contract

CLAIM_SUBJECT = "sla credit request"


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


def decide_claim(book: Book, claim: Claim, as_of: datetime, window: timedelta) -> JSON:
    """The decision on ``claim`` as of ``as_of``; deterministic for the same book."""
    contract = book.contract(claim.contract_id)
    if contract is None:
        return _rejected(claim, "unknown_contract", as_of, None)
    if claim.subject.strip().lower() != CLAIM_SUBJECT:
        return _rejected(claim, "bad_subject", as_of, contract.client_id)

    evals: dict[str, ContractEval | None] = {}

    def months_of(a: int, b: int) -> list[ContractEval]:
        seen: dict[str, ContractEval] = {}
        for month in months_overlapping(a, b, contract.timezone):
            key = str(month)
            if key not in evals:
                evals[key] = evaluate_contract(book, contract, month, as_of)
            ev = evals[key]
            if ev is not None:
                seen[key] = ev
        return list(seen.values())

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
            counted = 0
            for ev in months_of(a, b):
                lo, hi = max(a, ev.first), min(b, ev.end)
                if hi > lo:
                    counted += int(ev.counted()[lo - ev.first : hi - ev.first].sum())
            if counted == 0:
                rec["reason"] = "no_matching_downtime"
            else:
                rec.update(verdict="accepted", minutes_accepted=counted)
                accepted.append((a, b))
        verdicts.append(rec)

    credits = []
    total_minutes = 0
    total = Decimal(0)
    for key in sorted(evals):
        month_ev = evals[key]
        if month_ev is None:
            continue
        ev = month_ev
        mask = np.zeros(ev.minutes, dtype=bool)
        for a, b in accepted:
            lo, hi = max(a, ev.first), min(b, ev.end)
            if hi > lo:
                mask[lo - ev.first : hi - ev.first] = True
        if not mask.any():
            continue
        claimed_c = int((ev.counted() & mask).sum())
        if claimed_c == 0:
            continue
        total_minutes += claimed_c
        amount = Decimal(0)
        if contract.credit_basis is CreditBasis.PLATFORM:
            pct = credit_percent(uptime(ev.minutes, claimed_c), contract.credit_tiers)
            for s in ev.services:
                if (s.counted & mask).any():
                    amount += charge_share(pct, contract.charge(s.service))
        else:
            pct = Decimal(0)
            for s in ev.services:
                own = credit_percent(
                    uptime(ev.minutes, int((s.counted & mask).sum())), contract.credit_tiers
                )
                pct = max(pct, own)
                amount += charge_share(own, contract.charge(s.service))
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
