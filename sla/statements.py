"""Contract-month statements and service-month records (SPEC sections 4-6, 9).

Pure functions of the book and ``as_of``. A statement is a JSON-ready dict
with the field names of SPEC section 6. Finality: a month is ``provisional``
until ``finalize_after`` past its end; after that the statement computed from
what was known at that moment is revision 0 ``final``, and every later change
of content caused by an incident version recorded after it adds a revision
(``revised``). Replay and the streaming worker share these rules.
"""

from __future__ import annotations

import bisect
import dataclasses
import gc
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sla.book import Book
from sla.credit import (
    charge_share,
    credit_percent,
    error_budget,
    format_decimal,
    format_money,
    format_percent,
    meets_target,
    minutes_until_tier,
    round_money,
    uptime,
)
from sla.evaluate import Terms
from sla.model import (
    CAUSE_PRECEDENCE,
    DEFAULT_EXCLUDED,
    DEFAULT_TIERS,
    JSON,
    Cause,
    Contract,
    CreditBasis,
    CreditTier,
    NoDataPolicy,
)
from sla.months import Month, month_bounds, months_overlapping
from sla.summaries import (
    Bounded,
    ServiceWindow,
    contract_figures,
    evaluator,
    excluded_by_cause,
    format_minute,
    length,
    minutes_of,
    union,
)
from sla.timeutil import (
    epoch_minute,
    epoch_minute_ceil,
    format_instant,
    minute_start,
)

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


# -- one contract-month from shared service windows --------------------------------


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
    causes = c.excluded_causes
    figs = contract_figures(first, end, windows)
    d = figs.counted
    t = _terms_of(c)
    credit = _credit(c, t, m, d, windows)
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
    budget = error_budget(m, c.uptime_target)
    return {
        "kind": "contract_month",
        "contract_id": c.contract_id,
        "client_id": c.client_id,
        "contract_revision": c.revision,
        "month": str(month),
        "timezone": c.timezone,
        "period_start": format_minute(first),
        "period_end": format_minute(end),
        "minutes_in_month": m,
        "up_minutes": figs.up,
        "down_minutes": figs.down,
        "counted_downtime_minutes": d,
        "excluded_minutes": excluded_by_cause(figs.excluded_by_code, causes),
        "no_data_minutes": figs.no_data,
        "elapsed_minutes": elapsed,
        "remaining_minutes": m - elapsed,
        "data_minutes": with_data,
        "coverage_percent": coverage_text(elapsed, with_data),
        "uptime_percent": _percent_text(m, d),
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
        "services": services,
    }


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


# -- finality and revisions ------------------------------------------------------


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
    seen: set[datetime] = set()
    for s in services:
        seen.update(ev.known_instants(s))
    return sorted(seen)


Reading = tuple[str, str, Contract, tuple[int, int], tuple[ServiceWindow, ...]]


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

    out = _versioned(compute, end, as_of, changes, book.settings.finalize_after)
    out["incidents"] = incident_notes(book, out, as_of)
    contents.outputs[("contract", contract.contract_id, month)] = (memo, key, canon, out, fp)
    return dict(out)


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


def _minutes_runs(rs: Sequence[tuple[int, int]]) -> list[list[str]]:
    return [[format_minute(a), format_minute(b)] for a, b in rs]


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
    looked up once for the whole pass. The cyclic garbage collector is off
    meanwhile: a pass makes millions of small acyclic objects that it would
    otherwise scan again and again (half the time of a 10,000-contract
    replay); it is switched back on, as it was, at the end.
    """
    out: list[JSON] = []
    collecting = gc.isenabled()
    gc.disable()
    try:
        _all_statements(book, as_of, out)
    finally:
        if collecting:
            gc.enable()
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
