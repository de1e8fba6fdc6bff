"""Finality and revisions of an output, and what a book's outputs are kept by (SPEC section 6).

:func:`_versioned` gives an output its status and revision from the
content it had when the month became final and at every later instant a
change became known; :func:`_memo_key` is what an output depends on, and
:class:`_Contents` keeps a book's statement contents and last outputs while
their windows are current. Re-exported by :mod:`sla.statements`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sla.book import Book
from sla.model import JSON, Contract
from sla.months import Month, months_overlapping
from sla.statement_terms import in_force, readings_of, terms_of
from sla.summaries import evaluator, minutes_of
from sla.timeutil import format_instant, minute_start


def _versioned(
    compute: Callable[[datetime], tuple[Any, Callable[[], JSON]]],
    period_end: int,
    as_of: datetime,
    change_instants: list[datetime],
    finalize_after: Any,
) -> JSON:
    """Status and revision of an output (SPEC section 6).

    ``compute(at)`` returns a signature of what the content at ``at`` is made
    of and a builder of that content: equal signatures mean equal content, so
    a revision instant that changes nothing for this output costs a
    comparison, not a build.
    """
    final_at = minute_start(period_end) + finalize_after
    if as_of < final_at:
        out = dict(compute(as_of)[1]())
        out.update(status="provisional", revision=0)
    else:
        sig, build = compute(final_at)
        prev = build()
        revision = 0
        for t in sorted({t for t in change_instants if final_at < t <= as_of}):
            cur_sig, cur_build = compute(t)
            if cur_sig == sig:
                continue
            sig, cur = cur_sig, cur_build()
            if cur != prev:
                revision += 1
            prev = cur
        out = dict(prev)
        out.update(status="final" if revision == 0 else "revised", revision=revision)
    out["finalizes_at"] = format_instant(final_at)
    out["computed_at"] = format_instant(as_of)
    return out


def _change_instants(book: Book, services: tuple[str, ...]) -> list[datetime]:
    ev = evaluator(book)
    if len(services) == 1:
        return ev.known_instants(services[0])
    memo = ev.pass_memo
    key = ("change instants", services)
    if memo is not None and key in memo:  # the same services, many contracts of a pass
        held: list[datetime] = memo[key]
        return held
    seen: set[datetime] = set()
    for s in services:
        seen.update(ev.known_instants(s))
    instants = sorted(seen)
    if memo is not None:
        memo[key] = instants
    return instants


class _Contents:
    """Statement contents of one book, kept while the windows they came from are current."""

    def __init__(self) -> None:
        self.readings: dict[str, tuple[Contract, list[tuple[str, str, Contract]]]] = {}
        #: per contract-month: (contract, windows, content, windows apart from data, tick)
        self.held: dict[tuple[str, Month], list[tuple[Contract, Any, JSON, Any, int]]] = {}
        #: the last output per contract-month or service-month, with what it depended on
        #: (memo, inputs, instant, output, generations of its parts or None)
        self.outputs: dict[tuple[str, str, Month], tuple[Any, Any, Any, JSON, Any]] = {}
        #: per contract-month: (contract, readings, the parts its windows are made of)
        self.plans: dict[tuple[str, Month], tuple[Contract, Any, tuple[int, ...]]] = {}

    def readings_of(self, contract: Contract) -> list[tuple[str, str, Contract]]:
        held = self.readings.get(contract.contract_id)
        if held is not None and held[0] is contract:
            return held[1]
        alts = readings_of(contract)
        self.readings[contract.contract_id] = (contract, alts)
        return alts

    def plan(
        self, book: Book, contract: Contract, month: Month, alts: list[tuple[str, str, Contract]]
    ) -> tuple[int, ...]:
        """The parts a contract-month's own windows and its readings' are clipped from.

        Per service, UTC month and terms; ``full`` for the contract's own (its
        counted no-data minutes are downtime), not for a reading's.
        """
        held = self.plans.get((contract.contract_id, month))
        if held is not None and held[0] is contract and held[1] is alts:
            return held[2]
        ev = evaluator(book)
        lineages: list[int] = []
        for c, full in [(contract, True), *((alt, False) for _, _, alt in alts)]:
            span = in_force(c, month)
            if span is None:
                continue
            terms = terms_of(c)
            for s in sorted(c.service_names):
                lineages.extend(ev.lineage(s, m, terms, full) for m in months_overlapping(*span))
        plan = tuple(lineages)
        self.plans[(contract.contract_id, month)] = (contract, alts, plan)
        return plan

    def get(self, contract: Contract, month: Month, sig: Any) -> JSON | None:
        for c, s, content, _, _ in self.held.get((contract.contract_id, month), ()):
            if c is contract and s == sig:
                return content
        return None

    def get_apart_from_data(
        self, contract: Contract, month: Month, apart: Any, tick: int
    ) -> JSON | None:
        """Content built in the same coverage tick whose windows differed only in data."""
        for c, _, content, a, t in self.held.get((contract.contract_id, month), ()):
            if c is contract and t == tick and a == apart:
                return content
        return None

    def put(
        self, contract: Contract, month: Month, sig: Any, content: JSON, apart: Any, tick: int
    ) -> None:
        entries = self.held.setdefault((contract.contract_id, month), [])
        entries.insert(0, (contract, sig, content, apart, tick))
        del entries[4:]


def _contents(book: Book) -> _Contents:
    ev = evaluator(book)
    held = ev.extra.get("contents")
    if not isinstance(held, _Contents):
        held = ev.extra["contents"] = _Contents()
    return held


def _memo_key(
    book: Book,
    services: tuple[str, ...],
    first: int,
    end: int,
    as_of: datetime,
    changes: list[datetime],
) -> tuple[Any, Any]:
    """What an output over ``[first, end)`` as of ``as_of`` depends on, up to ``computed_at``.

    The inputs of its services (probe states and incident stamps of the UTC
    months within a day of the window, which covers every reading's
    timezone), and ``as_of`` as far as it matters: before finality its
    minute (clamped to that range) and, either way, how many of the
    knowledge instants it has passed.
    """
    ev = evaluator(book)
    lo, hi = first - 1440, end + 1440
    inputs = tuple(ev.inputs(s, lo, hi) for s in services)
    passed = bisect.bisect_right(changes, as_of)
    if as_of >= minute_start(end) + book.settings.finalize_after:
        return inputs, (True, passed)
    rounded, ceil = minutes_of(as_of)
    return inputs, (False, min(max(rounded, lo), hi), min(max(ceil, lo), hi), passed)
