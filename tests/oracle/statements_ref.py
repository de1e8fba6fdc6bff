"""The per-minute evaluation of statements, kept as the reference for the shared one.

This is how contract-month statements, service-month records and (in
``claims_ref``) claim decisions were computed before results were shared
(``sla/summaries.py``): every contract, reading and revision instant
evaluates its services again over numpy arrays, with no cache of any kind.
``tests/unit/sla/test_shared_evaluation.py`` holds the shared path to it. The
rule definitions both use (terms, readings, the in-force window) come from
``sla.statements``; what is kept here is the evaluation.

Over 400 lines, with one function over 60 (``compute_contract_month``), for
one reason: an oracle is worth what its independence is worth, so it is kept
as the evaluation was, in one piece, and not reshaped with the code it checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from sla.book import Book
from sla.credit import (
    charge_share,
    credit_percent,
    error_budget,
    format_decimal,
    format_money,
    format_percent,
    meets_target,
    round_money,
    uptime,
)
from sla.evaluate import (
    NO_CAUSE,
    ServiceEval,
    Span,
    cause_of,
    evaluate_service,
    runs,
)
from sla.model import (
    CAUSE_PRECEDENCE,
    DEFAULT_EXCLUDED,
    DEFAULT_TIERS,
    JSON,
    Cause,
    Contract,
    CreditBasis,
)
from sla.months import Month, month_bounds, months_overlapping
from sla.statements import (
    DEFAULT_TARGET,
    DEFAULT_TERMS,
    in_force,
    months_to_state,
    readings_of,
    terms_of,
)
from sla.timeutil import (
    epoch_minute,
    epoch_minute_ceil,
    format_instant,
    format_minute,
    minute_start,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ContractEval:
    """Every service of a contract classified over its in-force minutes of a month."""

    contract: Contract
    month: Month
    first: int
    end: int
    services: tuple[ServiceEval, ...]
    #: which minutes of the window began before the instant of the evaluation
    elapsed: np.ndarray[Any, np.dtype[np.bool_]]

    @property
    def minutes(self) -> int:
        return self.end - self.first

    def counted(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Contract-level counted minutes: any service counted-down."""
        out = np.zeros(self.minutes, dtype=bool)
        for s in self.services:
            out |= s.counted
        return out


def evaluate_contract(
    book: Book,
    contract: Contract,
    month: Month,
    as_of: datetime,
    known_by: datetime | None = None,
) -> ContractEval | None:
    """Classify the contract's services over ``month``; None when not in force."""
    span = in_force(contract, month)
    if span is None:
        return None
    first, end = span
    terms = terms_of(contract)
    evals = tuple(
        evaluate_service(book, s, first, end, as_of, terms, known_by)
        for s in sorted(contract.service_names)
    )
    return ContractEval(contract, month, first, end, evals, _elapsed(first, end, as_of))


def _elapsed(first: int, end: int, at: datetime) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Minute by minute: did it start before ``at``? (microseconds, no rounding helper)."""
    at_us = (at - _EPOCH) // timedelta(microseconds=1)
    starts_us = np.arange(first, end, dtype=np.int64) * 60_000_000
    return np.asarray(starts_us < at_us, dtype=bool)


def _coverage(elapsed: int, with_data: int) -> str:
    return format_percent(Fraction(with_data * 100, elapsed)) if elapsed else "0.0000"


def _excluded_by_cause(
    code: np.ndarray[Any, np.dtype[np.int8]], causes: frozenset[Cause]
) -> dict[str, int]:
    counts = np.bincount(code[code != NO_CAUSE].astype(np.int64), minlength=len(CAUSE_PRECEDENCE))
    out = {c.value: int(counts[i]) for i, c in enumerate(CAUSE_PRECEDENCE) if c in causes}
    for i, c in enumerate(CAUSE_PRECEDENCE):
        if counts[i] and c.value not in out:
            out[c.value] = int(counts[i])
    return out


def _downtime_incidents(ev: ServiceEval) -> list[JSON]:
    out = []
    for a, b in runs(ev.counted):
        start, end = ev.first + a, ev.first + b
        over = [sp for sp in ev.spans if sp.start < end and sp.end > start]
        out.append(_period(ev.service, start, end, over))
    return out


def _excluded_periods(ev: ServiceEval) -> list[JSON]:
    out = []
    excluded = ev.excluded
    for a, b in runs(excluded):
        # split the run where the reported cause changes
        codes = ev.cause_code[a:b]
        cuts = [0, *(np.flatnonzero(np.diff(codes)) + 1).tolist(), b - a]
        for i in range(len(cuts) - 1):
            start, end = ev.first + a + cuts[i], ev.first + a + cuts[i + 1]
            over = [sp for sp in ev.spans if sp.start < end and sp.end > start]
            rec = _period(ev.service, start, end, over)
            rec["excluded_cause"] = cause_of(int(codes[cuts[i]])).value
            out.append(rec)
    return out


def _period(service: str, start: int, end: int, over: list[Span]) -> JSON:
    return {
        "service": service,
        "start": format_minute(start),
        "end": format_minute(end),
        "duration_minutes": end - start,
        "causes": sorted({sp.cause.value for sp in over}),
        "incident_ids": sorted({sp.incident_id for sp in over}),
    }


def _minutes_runs(mask: np.ndarray[Any, np.dtype[np.bool_]], first: int) -> list[list[str]]:
    return [[format_minute(first + a), format_minute(first + b)] for a, b in runs(mask)]


@dataclass(frozen=True, slots=True)
class _ServiceFigures:
    up: int
    down: int
    counted: int
    no_data: int
    excluded: dict[str, int]


def _figures(ev: ServiceEval, causes: frozenset[Cause]) -> _ServiceFigures:
    return _ServiceFigures(
        up=int(ev.up.sum()),
        down=int(ev.down.sum()),
        counted=int(ev.counted.sum()),
        no_data=int(ev.no_data.sum()),
        excluded=_excluded_by_cause(ev.cause_code, causes),
    )


def compute_contract_month(ev: ContractEval) -> JSON:
    """The statement's content (no status, revision, time or readings)."""
    c = ev.contract
    m = ev.minutes
    causes = c.excluded_causes
    figs = {s.service: _figures(s, causes) for s in ev.services}
    by_name = {s.service: s for s in ev.services}

    counted_c = ev.counted()
    code_c = np.full(m, NO_CAUSE, dtype=np.int8)
    nodata_all = np.ones(m, dtype=bool)
    for s in ev.services:
        np.minimum(code_c, s.cause_code, out=code_c)
        nodata_all &= s.no_data
    code_c[counted_c] = NO_CAUSE
    excluded_c = code_c != NO_CAUSE
    nodata_c = nodata_all & ~counted_c & ~excluded_c
    up_c = np.ones(m, dtype=bool)
    for s in ev.services:
        up_c &= s.up | (s.no_data & ~s.down)
    up_c &= ~nodata_all
    d = int(counted_c.sum())
    up_pct = uptime(m, d)
    elapsed = int(ev.elapsed.sum())
    lacking = np.zeros(m, dtype=bool)
    for s in ev.services:
        lacking |= s.no_data
    with_data = int((ev.elapsed & ~lacking).sum()) if ev.services else 0

    affected = sorted(s for s, f in figs.items() if f.counted > 0)
    services: JSON = {}
    total = Decimal(0)
    top_percent = Decimal(0)
    platform_percent = credit_percent(up_pct, c.credit_tiers)
    for name in sorted(figs):
        f = figs[name]
        own_pct = uptime(m, f.counted)
        if c.credit_basis is CreditBasis.PLATFORM:
            pct = platform_percent if f.counted > 0 else Decimal(0)
        else:
            pct = credit_percent(own_pct, c.credit_tiers)
        amount = charge_share(pct, c.charge(name))
        total += amount
        top_percent = max(top_percent, pct)
        services[name] = {
            "monthly_charge": format_money(c.charge(name), c.currency),
            "up_minutes": f.up,
            "down_minutes": f.down,
            "counted_downtime_minutes": f.counted,
            "excluded_minutes": f.excluded,
            "no_data_minutes": f.no_data,
            "uptime_percent": format_percent(own_pct),
            "coverage_percent": _coverage(elapsed, elapsed - f.no_data),
            "meets_target": meets_target(m, f.counted, c.uptime_target),
            "credit_percent": format_decimal(pct),
            "credit_amount": format_money(amount, c.currency),
            "no_data_periods": _minutes_runs(by_name[name].no_data, ev.first),
        }
    if c.credit_basis is CreditBasis.PLATFORM:
        top_percent = platform_percent if affected else Decimal(0)

    budget = error_budget(m, c.uptime_target)
    downtime = [rec for s in ev.services for rec in _downtime_incidents(s)]
    excluded_periods = [rec for s in ev.services for rec in _excluded_periods(s)]
    return {
        "kind": "contract_month",
        "contract_id": c.contract_id,
        "client_id": c.client_id,
        "contract_revision": c.revision,
        "month": str(ev.month),
        "timezone": c.timezone,
        "period_start": format_minute(ev.first),
        "period_end": format_minute(ev.end),
        "minutes_in_month": m,
        "up_minutes": int(up_c.sum()),
        "down_minutes": d + int(excluded_c.sum()),
        "counted_downtime_minutes": d,
        "excluded_minutes": _excluded_by_cause(code_c, causes),
        "no_data_minutes": int(nodata_c.sum()),
        "elapsed_minutes": elapsed,
        "remaining_minutes": m - elapsed,
        "data_minutes": with_data,
        "coverage_percent": _coverage(elapsed, with_data),
        "uptime_percent": format_percent(up_pct),
        "uptime_target": format_decimal(c.uptime_target),
        "credit_tiers": [
            {"below": format_decimal(t.below), "credit_percent": format_decimal(t.credit_percent)}
            for t in c.credit_tiers
        ],
        "meets_target": meets_target(m, d, c.uptime_target),
        "error_budget_minutes": budget,
        "error_budget_remaining_minutes": budget - d,
        "credit_percent": format_decimal(top_percent),
        "credit_basis": c.credit_basis.value,
        "excluded_causes": [x.value for x in CAUSE_PRECEDENCE if x in causes],
        "no_data_policy": c.no_data_policy.value,
        "declared_outage_counts": c.declared_outage_counts,
        "affected_services": affected,
        "credit_amount": format(round_money(total, c.currency), "f"),
        "currency": c.currency,
        "downtime_incidents": downtime,
        "excluded_periods": excluded_periods,
        "services": services,
    }


# -- readings (SPEC section 9) ---------------------------------------------------


def compute_readings(
    book: Book, contract: Contract, month: Month, as_of: datetime, own: JSON
) -> list[JSON]:
    """The statement recomputed under each alternative reading, with the credit difference."""
    out = []
    own_amount = Decimal(own["credit_amount"])
    for name, text, alt in readings_of(contract):
        ev = evaluate_contract(book, alt, month, as_of)
        if ev is None:
            continue
        st = compute_contract_month(ev)
        amount = Decimal(st["credit_amount"])
        out.append(
            {
                "reading": name,
                "description": text,
                "uptime_percent": st["uptime_percent"],
                "counted_downtime_minutes": st["counted_downtime_minutes"],
                "credit_percent": st["credit_percent"],
                "credit_amount": st["credit_amount"],
                "difference": format(amount - own_amount, "f"),
                "differs": amount != own_amount,
            }
        )
    return out


# -- finality and revisions ------------------------------------------------------


def _versioned(
    compute: Callable[[datetime], JSON],
    period_end: int,
    as_of: datetime,
    change_instants: list[datetime],
    finalize_after: Any,
) -> JSON:
    final_at = minute_start(period_end) + finalize_after
    if as_of < final_at:
        out = compute(as_of)
        out.update(status="provisional", revision=0)
    else:
        prev = compute(final_at)
        revision = 0
        for t in sorted({t for t in change_instants if final_at < t <= as_of}):
            cur = compute(t)
            if cur != prev:
                revision += 1
            prev = cur
        out = prev
        out.update(status="final" if revision == 0 else "revised", revision=revision)
    out["finalizes_at"] = format_instant(final_at)
    out["computed_at"] = format_instant(as_of)
    return out


def _change_instants(book: Book, services: tuple[str, ...]) -> list[datetime]:
    seen: set[datetime] = set()
    for s in services:
        for versions in book.incident_versions(s):
            seen.update(v.known_at for v in versions)
    return sorted(seen)


def contract_month_statement(
    book: Book, contract: Contract, month: Month, as_of: datetime, with_readings: bool = True
) -> JSON | None:
    """The full contract-month statement as of ``as_of`` (None when not in force)."""
    span = in_force(contract, month)
    if span is None:
        return None

    def compute(at: datetime) -> JSON:
        ev = evaluate_contract(book, contract, month, at)
        assert ev is not None
        st = compute_contract_month(ev)
        if with_readings:
            st["readings"] = compute_readings(book, contract, month, at, st)
        return st

    changes = _change_instants(book, contract.service_names)
    out = _versioned(compute, span[1], as_of, changes, book.settings.finalize_after)
    out["incidents"] = _incident_notes(book, out, as_of)
    return out


def _incident_notes(book: Book, statement: JSON, as_of: datetime) -> list[JSON]:
    """Every incident named by a period: its best version known at ``as_of``."""
    named: set[str] = set()
    for p in [*statement["downtime_incidents"], *statement["excluded_periods"]]:
        named.update(p["incident_ids"])
    notes = []
    for incident_id in sorted(named):
        ranked = sorted(book.incidents[incident_id].items(), reverse=True)
        v = next((v for _, v in ranked if v.known_at <= as_of), None)
        if v is not None:
            notes.append(
                {
                    "incident_id": incident_id,
                    "title": v.title,
                    "cause": v.cause.value,
                    "impact": v.impact.value,
                    "status": v.status.value,
                    "started_at": format_instant(v.started_at),
                    "ended_at": None if v.ended_at is None else format_instant(v.ended_at),
                }
            )
    return notes


def service_month_record(book: Book, service: str, month: Month, as_of: datetime) -> JSON:
    """The service-month record (UTC month, default terms) with its minute intervals."""
    first, end = month_bounds(month)

    def compute(at: datetime) -> JSON:
        ev = evaluate_service(book, service, first, end, at, DEFAULT_TERMS)
        f = _figures(ev, DEFAULT_EXCLUDED)
        m = end - first
        up_pct = uptime(m, f.counted)
        budget = error_budget(m, DEFAULT_TARGET)
        elapsed = int(_elapsed(first, end, at).sum())
        excluded = [
            {"start": p["start"], "end": p["end"], "cause": p["excluded_cause"]}
            for p in _excluded_periods(ev)
        ]
        return {
            "kind": "service_month",
            "service": service,
            "month": str(month),
            "timezone": "UTC",
            "minutes_in_month": m,
            "elapsed_minutes": elapsed,
            "remaining_minutes": m - elapsed,
            "up_minutes": f.up,
            "down_minutes": f.down,
            "counted_downtime_minutes": f.counted,
            "excluded_minutes": f.excluded,
            "no_data_minutes": f.no_data,
            "uptime_percent": format_percent(up_pct),
            "coverage_percent": _coverage(elapsed, elapsed - f.no_data),
            "meets_target": meets_target(m, f.counted, DEFAULT_TARGET),
            "credit_percent": format_decimal(credit_percent(up_pct, DEFAULT_TIERS)),
            "error_budget_minutes": budget,
            "error_budget_remaining_minutes": budget - f.counted,
            "downtime_incidents": _downtime_incidents(ev),
            "intervals": {
                "counted": _minutes_runs(ev.counted, first),
                "excluded": excluded,
                "no_data": _minutes_runs(ev.no_data, first),
            },
        }

    changes = _change_instants(book, (service,))
    return _versioned(compute, end, as_of, changes, book.settings.finalize_after)


# -- which months exist ----------------------------------------------------------


def _data_span(book: Book, services: tuple[str, ...], as_of: datetime) -> tuple[int, int] | None:
    lo: int | None = None
    for (s, _m), led in book.ledgers.items():
        if s in services:
            r = led.data_range()
            if r is not None:
                lo = r[0] if lo is None else min(lo, r[0])
    for s in services:
        for versions in book.incident_versions(s):
            for v in versions:
                if v.known_at <= as_of:
                    start = epoch_minute(v.started_at)
                    lo = start if lo is None else min(lo, start)
    if lo is None:
        return None
    return lo, epoch_minute_ceil(as_of)


def contract_months(book: Book, contract: Contract, as_of: datetime) -> list[Month]:
    """Months of ``contract`` to state, from a scan of every ledger."""
    span = _data_span(book, contract.service_names, as_of)
    return months_to_state(contract, None if span is None else span[0], as_of)


def service_months(book: Book, as_of: datetime) -> list[tuple[str, Month]]:
    """Every (service, UTC month) with probes or incident minutes up to ``as_of``."""
    keys = {k for k, led in book.ledgers.items() if led.data_range() is not None}
    now = epoch_minute_ceil(as_of)
    for service in book.incidents_by_service:
        span = _data_span(book, (service,), as_of)
        if span is None:
            continue
        for versions in book.incident_versions(service):
            for v in versions:
                if v.known_at > as_of or service not in v.services:
                    continue
                a = epoch_minute(v.started_at)
                b = epoch_minute(v.ended_at) + 1 if v.ended_at is not None else now
                for m in months_overlapping(a, min(b, now)):
                    keys.add((service, m))
    return sorted(keys)


def all_statements(book: Book, as_of: datetime) -> Iterator[JSON]:
    """Every contract-month statement, then every service-month record, in key order."""
    for cid in sorted(book.contracts):
        contract = book.contract(cid)
        assert contract is not None
        for month in contract_months(book, contract, as_of):
            st = contract_month_statement(book, contract, month, as_of)
            if st is not None:
                yield st
    for service, month in service_months(book, as_of):
        yield service_month_record(book, service, month, as_of)
