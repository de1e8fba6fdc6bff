"""Contract-month statements and service-month records (SPEC sections 4-6, 9).

Pure functions of the book and ``as_of``. A statement is a JSON-ready dict
with the field names of SPEC section 6. Finality: a month is ``provisional``
until ``finalize_after`` past its end; after that the statement computed from
what was known at that moment is revision 0 ``final``, and every later change
of content caused by an incident version recorded after it adds a revision
(``revised``). Replay and the streaming worker share these rules.

This module holds the service-month records, which months exist and every
output of a book as of an instant (:func:`all_statements`), and is where
callers import from: the terms and credit arithmetic, finality and
revisions, and the contract-month statement live in
:mod:`sla.statement_terms`, :mod:`sla.statement_versions` and
:mod:`sla.contract_month` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from sla.book import Book
from sla.contract_month import (
    compute_contract_month,
    contract_month_statement,
    contract_windows,
    incident_notes,
)
from sla.credit import credit_percent, error_budget, format_decimal, meets_target, uptime
from sla.model import DEFAULT_TIERS, JSON, Contract
from sla.months import Month, month_bounds, months_overlapping
from sla.process_shared import collector_paused
from sla.statement_terms import (
    DEFAULT_TARGET,
    DEFAULT_TERMS,
    Reading,
    _minute_figures,
    _minutes_runs,
    compute_readings,
    coverage_text,
    elapsed_minutes,
    in_force,
    readings_of,
    terms_of,
)
from sla.statement_versions import _change_instants, _contents, _memo_key, _versioned
from sla.summaries import evaluator
from sla.timeutil import epoch_minute, epoch_minute_ceil, format_instant

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TERMS",
    "Reading",
    "all_statements",
    "compute_contract_month",
    "compute_readings",
    "contract_month_statement",
    "contract_months",
    "contract_windows",
    "coverage_text",
    "elapsed_minutes",
    "in_force",
    "incident_notes",
    "months_to_state",
    "readings_of",
    "service_month_record",
    "service_months",
    "terms_of",
]


def service_month_record(book: Book, service: str, month: Month, as_of: datetime) -> JSON:
    """The service-month record (UTC month, default terms) with its minute intervals."""
    first, end = month_bounds(month)
    ev = evaluator(book)
    contents = _contents(book)
    changes = _change_instants(book, (service,))
    key, canon = _memo_key(book, (service,), first, end, as_of, changes)
    held = contents.outputs.get(("service", service, month))
    if held is not None and held[1] == key and held[2] == canon:
        return {**held[3], "computed_at": format_instant(as_of)}

    def compute(at: datetime) -> tuple[Any, Callable[[], JSON]]:
        w = ev.window(service, first, end, DEFAULT_TERMS, at)

        def build() -> JSON:
            m = end - first
            elapsed = elapsed_minutes(first, end, epoch_minute_ceil(at))
            budget = error_budget(m, DEFAULT_TARGET)
            excluded = [
                {"start": p["start"], "end": p["end"], "cause": p["excluded_cause"]}
                for p in w.excluded_periods()
            ]
            return {
                "kind": "service_month",
                "service": service,
                "month": str(month),
                "timezone": "UTC",
                "minutes_in_month": m,
                "elapsed_minutes": elapsed,
                "remaining_minutes": m - elapsed,
                **_minute_figures(w, m, elapsed),
                "meets_target": meets_target(m, w.n_counted, DEFAULT_TARGET),
                "credit_percent": format_decimal(
                    credit_percent(uptime(m, w.n_counted), DEFAULT_TIERS)
                ),
                "error_budget_minutes": budget,
                "error_budget_remaining_minutes": budget - w.n_counted,
                "downtime_incidents": w.downtime_incidents(),
                "intervals": {
                    "counted": _minutes_runs(w.counted),
                    "excluded": excluded,
                    "no_data": _minutes_runs(w.no_data),
                },
            }

        return w, build

    out = _versioned(compute, end, as_of, changes, book.settings.finalize_after)
    contents.outputs[("service", service, month)] = (None, key, canon, out, None)
    return dict(out)


# -- which months exist ----------------------------------------------------------


def _first_data(book: Book, service: str, as_of: datetime) -> int | None:
    """The first minute of ``service`` with a probe or an incident known by ``as_of``."""
    ev = evaluator(book)
    lo: int | None = None
    for month in ev.months_with_states(service):
        first = ev.first_data_minute(service, month)
        if first is not None:
            lo = first
            break
    for versions in book.incident_versions(service):
        for v in versions:
            if v.known_at <= as_of:
                start = epoch_minute(v.started_at)
                lo = start if lo is None else min(lo, start)
    return lo


def _data_span(book: Book, services: tuple[str, ...], as_of: datetime) -> tuple[int, int] | None:
    memo = evaluator(book).pass_memo

    def first_data(service: str) -> int | None:
        if memo is None:
            return _first_data(book, service, as_of)
        key = ("first data", service, as_of)  # asked for every contract of a pass: once
        if key not in memo:
            memo[key] = _first_data(book, service, as_of)
        found: int | None = memo[key]
        return found

    firsts = [f for f in map(first_data, services) if f is not None]
    if not firsts:
        return None
    return min(firsts), epoch_minute_ceil(as_of)


def contract_months(book: Book, contract: Contract, as_of: datetime) -> list[Month]:
    """Months of ``contract`` to state as of ``as_of``; see :func:`months_to_state`."""
    span = _data_span(book, contract.service_names, as_of)
    return months_to_state(contract, None if span is None else span[0], as_of)


def months_to_state(contract: Contract, data_first: int | None, as_of: datetime) -> list[Month]:
    """The contract's months from its start to the month containing ``as_of``.

    Its start is ``effective_from`` (its services' silence until their first
    data is no-data minutes, down under ``no_data_policy: down``: SPEC section
    3), else the first minute any of its services has data (``data_first``),
    else there is nothing to state. The end is ``as_of`` or ``effective_to``,
    whichever comes first; a contract without ``effective_from`` that ended
    before its first data still gets its last month in force.
    """
    end = epoch_minute_ceil(as_of)
    if contract.effective_to is not None:
        end = min(end, epoch_minute_ceil(contract.effective_to))
    if contract.effective_from is not None:
        first = epoch_minute_ceil(contract.effective_from)
    elif data_first is not None:
        first = min(data_first, end - 1)
    else:
        return []
    return list(_months_overlapping(first, end, contract.timezone))


@lru_cache(maxsize=65_536)
def _months_overlapping(first: int, end: int, timezone: str) -> tuple[Month, ...]:
    # the same few starts and zones for every contract of a book, each minute
    return tuple(months_overlapping(first, end, timezone))


def service_months(book: Book, as_of: datetime) -> list[tuple[str, Month]]:
    """Every (service, UTC month) with probes or incident minutes up to ``as_of``."""
    ev = evaluator(book)
    keys = {(s, m) for s, m in list(book.ledgers) if ev.first_data_minute(s, m) is not None}
    now = epoch_minute_ceil(as_of)
    for service in book.incidents_by_service:
        if _first_data(book, service, as_of) is None:
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


def all_statements(book: Book, as_of: datetime) -> list[JSON]:
    """Every contract-month statement, then every service-month record, in key order.

    One pass over an unchanging book: what each service's inputs are is
    looked up once for the whole pass, with the cyclic garbage collector
    paused (:func:`sla.process_shared.collector_paused`): otherwise it scans
    the pass's millions of small acyclic objects again and again, half the
    time of a 10,000-contract replay.
    """
    out: list[JSON] = []
    with collector_paused():
        _all_statements(book, as_of, out)
    return out


def _all_statements(book: Book, as_of: datetime, out: list[JSON]) -> None:
    with evaluator(book).one_pass():
        for cid in sorted(book.contracts):
            contract = book.contract(cid)
            assert contract is not None
            for month in contract_months(book, contract, as_of):
                st = contract_month_statement(book, contract, month, as_of)
                if st is not None:
                    out.append(st)
        for service, month in service_months(book, as_of):
            out.append(service_month_record(book, service, month, as_of))
