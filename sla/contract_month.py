"""The contract-month statement: its windows, its content and its incidents (SPEC section 6).

A contract's services over its in-force minutes, shared with every contract
over the same window and terms; the statement's content assembled from
them, with its readings (:func:`sla.statement_terms.compute_readings`); and
the statement as of an instant, with its status and revision, kept while
what it depends on is unchanged. Re-exported by :mod:`sla.statements`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sla.book import Book
from sla.credit import error_budget, format_decimal, format_money, round_money
from sla.model import CAUSE_PRECEDENCE, JSON, Contract
from sla.months import Month
from sla.statement_terms import (
    Reading,
    _Credit,
    _credit,
    _minute_figures,
    _minutes_runs,
    _percent_text,
    _Terms,
    _terms_of,
    compute_readings,
    coverage_text,
    elapsed_minutes,
    in_force,
    terms_of,
)
from sla.statement_versions import (
    _change_instants,
    _Contents,
    _contents,
    _memo_key,
    _versioned,
)
from sla.summaries import (
    ContractFigures,
    Evaluator,
    ServiceWindow,
    contract_figures,
    evaluator,
    excluded_by_cause,
    format_minute,
    length,
    union,
)
from sla.timeutil import epoch_minute_ceil, format_instant, minute_start


def contract_windows(
    book: Book,
    contract: Contract,
    month: Month,
    as_of: datetime,
    known_by: datetime | None = None,
) -> tuple[ServiceWindow, ...] | None:
    """The contract's services over its in-force minutes of ``month`` (None: not in force).

    Shared: every contract with the same window and terms gets the same objects.
    """
    span = in_force(contract, month)
    if span is None:
        return None
    ev = evaluator(book)
    terms = terms_of(contract)
    first, end = span
    services = contract.service_names
    memo = ev.pass_memo
    if memo is not None:
        # many contracts (and readings) of a book share services, window and terms
        key = ("windows", services, first, end, terms, as_of, known_by)
        held = memo.get(key)
        if held is None:
            held = memo[key] = tuple(
                ev.window(s, first, end, terms, as_of, known_by) for s in sorted(services)
            )
        windows: tuple[ServiceWindow, ...] = held
        return windows
    return tuple(ev.window(s, first, end, terms, as_of, known_by) for s in sorted(services))


def compute_contract_month(
    contract: Contract,
    month: Month,
    first: int,
    end: int,
    windows: Sequence[ServiceWindow],
    now: int,
) -> JSON:
    """The statement's content (no status, revision, time or readings).

    ``now`` is the first epoch minute starting at or after the instant the
    windows were evaluated at: the minutes before it have elapsed. A minute
    has data when every service has data (or a declared outage) in it;
    ``coverage_percent`` is those minutes over the elapsed ones.
    """
    c = contract
    m = end - first
    elapsed = elapsed_minutes(first, end, now)
    with_data = elapsed - length(union([w.no_data for w in windows])) if windows else 0
    figs = contract_figures(first, end, windows)
    t = _terms_of(c)
    credit = _credit(c, t, m, figs.counted, windows)
    services = _service_entries(c, t, m, elapsed, windows, credit)
    budget = error_budget(m, c.uptime_target)
    return {
        **_period_fields(c, month, first, end),
        **_minute_fields(c, figs, m, elapsed, with_data),
        **_credit_fields(c, t, m, figs.counted, budget, credit, windows),
        "services": services,
    }


def _service_entries(
    c: Contract,
    t: _Terms,
    m: int,
    elapsed: int,
    windows: Sequence[ServiceWindow],
    credit: _Credit,
) -> JSON:
    """The statement's ``services``: each service's charge, minutes and credit."""
    services: JSON = {}
    for w, (pct, amount) in zip(windows, credit.per_service, strict=True):
        services[w.service] = {
            "monthly_charge": format_money(c.charge(w.service), c.currency),
            **_minute_figures(w, m, elapsed),
            "meets_target": t.meets(m, w.n_counted),
            "credit_percent": format_decimal(pct),
            "credit_amount": format_money(amount, c.currency),
            # where the silence was, so a report can draw it instead of drawing it as up
            "no_data_periods": _minutes_runs(w.no_data),
        }
    return services


def _period_fields(c: Contract, month: Month, first: int, end: int) -> JSON:
    """Which contract, revision and month the statement is of, and its period."""
    return {
        "kind": "contract_month",
        "contract_id": c.contract_id,
        "client_id": c.client_id,
        "contract_revision": c.revision,
        "month": str(month),
        "timezone": c.timezone,
        "period_start": format_minute(first),
        "period_end": format_minute(end),
        "minutes_in_month": end - first,
    }


def _minute_fields(
    c: Contract, figs: ContractFigures, m: int, elapsed: int, with_data: int
) -> JSON:
    """The contract's minute counts, how far the month has gone, coverage and uptime."""
    return {
        "up_minutes": figs.up,
        "down_minutes": figs.down,
        "counted_downtime_minutes": figs.counted,
        "excluded_minutes": excluded_by_cause(figs.excluded_by_code, c.excluded_causes),
        "no_data_minutes": figs.no_data,
        "elapsed_minutes": elapsed,
        "remaining_minutes": m - elapsed,
        "data_minutes": with_data,
        "coverage_percent": coverage_text(elapsed, with_data),
        "uptime_percent": _percent_text(m, figs.counted),
    }


def _credit_fields(
    c: Contract,
    t: _Terms,
    m: int,
    d: int,
    budget: int,
    credit: _Credit,
    windows: Sequence[ServiceWindow],
) -> JSON:
    """The terms applied, the target, error budget and credit, and the periods behind them."""
    causes = c.excluded_causes
    return {
        "uptime_target": t.target_text,
        "credit_tiers": [dict(tier) for tier in t.tiers_json],
        "meets_target": t.meets(m, d),
        "error_budget_minutes": budget,
        "error_budget_remaining_minutes": budget - d,
        "credit_percent": format_decimal(credit.top_percent),
        "credit_basis": c.credit_basis.value,
        "excluded_causes": [x.value for x in CAUSE_PRECEDENCE if x in causes],
        "no_data_policy": c.no_data_policy.value,
        "declared_outage_counts": c.declared_outage_counts,
        "affected_services": [w.service for w in windows if w.n_counted > 0],
        "credit_amount": format(round_money(credit.total, c.currency), "f"),
        "currency": c.currency,
        "downtime_incidents": [rec for w in windows for rec in w.downtime_incidents()],
        "excluded_periods": [rec for w in windows for rec in w.excluded_periods()],
    }


def contract_month_statement(
    book: Book, contract: Contract, month: Month, as_of: datetime, with_readings: bool = True
) -> JSON | None:
    """The full contract-month statement as of ``as_of`` (None when not in force)."""
    span = in_force(contract, month)
    if span is None:
        return None
    first, end = span
    contents = _contents(book)
    changes = _change_instants(book, contract.service_names)
    key, canon = _memo_key(book, contract.service_names, first, end, as_of, changes)
    memo = (contract, month, with_readings)
    held = contents.outputs.get(("contract", contract.contract_id, month))
    if held is not None and held[0] == memo and held[1] == key and held[2] == canon:
        return {**held[3], "computed_at": format_instant(as_of)}
    alts = contents.readings_of(contract) if with_readings else []
    ev = evaluator(book)
    step = ev.coverage_step
    final_at = minute_start(end) + book.settings.finalize_after
    phase = zlib.crc32(contract.contract_id.encode()) % step if step > 1 else 0
    fp: Any = None
    if step > 1 and as_of < final_at:
        # A month in progress whose parts said nothing new since it was built
        # but which minutes had data, within the same coverage tick, keeps its
        # content: the build below would find it stale and keep it too, after
        # evaluating every window of the contract and its readings again (a new
        # minute of a large book: most contracts, every minute).
        fp = (
            (epoch_minute_ceil(as_of) + phase) // step,
            canon[-1],
            tuple(i.stamp for i in key),
            ev.generations(contents.plan(book, contract, month, alts), as_of),
        )
        kept = _kept_in_tick(ev, contents, contract, month, as_of, held, (memo, key, canon, fp))
        if kept is not None:
            return kept
    compute = _content_at(
        book, contents, contract, month, span, alts, with_readings, (step, phase, final_at)
    )
    out = _versioned(compute, end, as_of, changes, book.settings.finalize_after)
    out["incidents"] = incident_notes(book, out, as_of)
    contents.outputs[("contract", contract.contract_id, month)] = (memo, key, canon, out, fp)
    return dict(out)


def _kept_in_tick(
    ev: Evaluator,
    contents: _Contents,
    contract: Contract,
    month: Month,
    as_of: datetime,
    held: tuple[Any, Any, Any, JSON, Any] | None,
    asked: tuple[Any, Any, Any, Any],
) -> JSON | None:
    """The output last held for a month in progress, if its coverage tick lets it stand.

    ``asked`` is what the output asked for depends on (memo, inputs, instant,
    fingerprint); None: it must be evaluated.
    """
    memo, key, canon, fp = asked
    ours = held if held is not None and held[0] == memo and held[4] is not None else None
    if ours is not None and ours[4] == fp:
        contents.outputs[("contract", contract.contract_id, month)] = (
            memo,
            key,
            canon,
            ours[3],
            fp,
        )
        return {**ours[3], "computed_at": format_instant(as_of)}
    if ours is not None and ev.defer_coverage and ours[4][1:] == fp[1:]:
        # only its coverage tick moved: left as it was, for a pass that does not
        # defer (which finds it out of date), after the real changes
        ev.deferred += 1
        return {**ours[3], "computed_at": format_instant(as_of)}
    return None


def _content_at(
    book: Book,
    contents: _Contents,
    contract: Contract,
    month: Month,
    span: tuple[int, int],
    alts: list[tuple[str, str, Contract]],
    with_readings: bool,
    ticks: tuple[int, int, datetime],
) -> Callable[[datetime], tuple[Any, Callable[[], JSON]]]:
    """The ``compute`` of :func:`_versioned` for a contract-month in force over ``span``.

    At an instant: its windows and its readings' as the signature, and the
    builder of its content, which reuses a content built from the same
    windows. ``ticks`` is the coverage step, this contract's phase in it and
    when the month becomes final.
    """
    first, end = span
    step, phase, final_at = ticks

    def compute(at: datetime) -> tuple[Any, Callable[[], JSON]]:
        own = contract_windows(book, contract, month, at)
        assert own is not None
        readings: list[Reading] = []
        for name, text, alt in alts:
            alt_span = in_force(alt, month)
            windows = contract_windows(book, alt, month, at)
            if alt_span is not None and windows is not None:
                readings.append((name, text, alt, alt_span, windows))
        sig = (own, tuple(r[4] for r in readings))

        def build() -> JSON:
            held = contents.get(contract, month, sig)
            if held is not None:
                return held
            # a month in progress whose windows changed only in which minutes had
            # data keeps its content until its coverage tick ends (never a final)
            tick, apart = -1, None
            if step > 1 and at < final_at:
                tick = (epoch_minute_ceil(at) + phase) // step
                # the contract's own counted minutes in full: a no-data minute that
                # counts as down is downtime, published at once; the readings' only
                # as far as data goes (they are republished with the coverage)
                apart = (
                    tuple((w.apart_from_data(), w.counted) for w in own),
                    tuple(w.apart_from_data() for r in readings for w in r[4]),
                )
                stale = contents.get_apart_from_data(contract, month, apart, tick)
                if stale is not None:
                    return stale
            st = compute_contract_month(contract, month, first, end, own, epoch_minute_ceil(at))
            if with_readings:
                st["readings"] = compute_readings(Decimal(st["credit_amount"]), readings)
            contents.put(contract, month, sig, st, apart, tick)
            return st

        return sig, build

    return compute


def incident_notes(book: Book, statement: JSON, as_of: datetime) -> list[JSON]:
    """The incidents behind a statement's periods, as known at ``as_of``, by id.

    Outside the versioned content: a new title alone never revises a month.
    """
    ids = sorted(
        {
            i
            for key in ("downtime_incidents", "excluded_periods")
            for p in statement[key]
            for i in p["incident_ids"]
        }
    )
    notes = []
    for incident_id in ids:
        known = [v for v in book.incidents.get(incident_id, {}).values() if v.known_at <= as_of]
        if not known:
            continue
        v = max(known, key=lambda v: v.rank)
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
