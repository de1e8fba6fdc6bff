"""Shared evaluation: each service's minutes are computed once and shared by every contract.

A vendor bills thousands of contracts over the same few services. Evaluating
every service again for every contract, reading and revision instant makes
the statement stage cost grow with contracts x services x 44,640 minutes;
here it grows with what changed. :func:`evaluator` gives the
:class:`Evaluator` of a :class:`~sla.book.Book`; it keeps three layers, each
a pure function of its key, and checks on every use that what it holds was
computed from the book as it is now:

1. :class:`MonthPart`: one service over one UTC month under one set of
   :class:`~sla.evaluate.Terms`, as of an instant and known by another, as
   runs of counted, excluded (with their cause) and no-data minutes. Made by
   :func:`sla.evaluate.evaluate_service` (the per-minute rules) once, and
   again only when that service-month's probe states (compared by identity:
   a ledger or a received state replaces its array when it changes) or the
   service's incidents (a stamp the book raises) change.
2. :class:`ServiceWindow`: one service over a contract's window (its month in
   its own timezone, clipped to its dates): the parts it overlaps, clipped
   and joined, with the counts and periods a statement shows.
3. Contract figures, assembled from windows by run arithmetic
   (:func:`contract_figures`), so a contract costs what its services'
   downtime runs cost, not a pass over every minute.

The instants are made canonical before they key anything: ``as_of`` only
matters up to the month's end, and ``known_by`` only through which incident
versions of the service it lets in, so every contract, reading and
revision instant that sees the same facts shares one result. Evaluation is
minute-local, so clipping and joining parts gives exactly what evaluating the
window directly gives (held by a property test against a from-scratch
evaluation).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from sla.evaluate import NO_CAUSE, Span, Terms, cause_of, evaluate_service, runs
from sla.model import CAUSE_PRECEDENCE, JSON, Cause
from sla.months import Month, month_bounds, months_overlapping
from sla.probes import NO_DATA
from sla.timeutil import epoch_minute_ceil, round_minute
from sla.timeutil import format_minute as _format_minute

#: period ends recur across every window of a month: format each once
format_minute = lru_cache(maxsize=65_536)(_format_minute)

if TYPE_CHECKING:
    from sla.book import Book

Run = tuple[int, int]
CodedRun = tuple[int, int, int]

#: generations of :meth:`Evaluator.part_generation`, unique in the process
_GENERATIONS = itertools.count(1)

#: cause codes 0..4 in reporting precedence (``NO_CAUSE`` is not one)
_CODES = range(len(CAUSE_PRECEDENCE))


@dataclass(frozen=True, slots=True)
class MonthPart:
    """One service over one UTC month: runs of absolute epoch minutes ``[start, end)``."""

    counted: tuple[Run, ...]
    #: excluded-down minutes, split where the reported cause code changes
    excluded: tuple[CodedRun, ...]
    no_data: tuple[Run, ...]
    spans: tuple[Span, ...]


class ServiceWindow:
    """One service over ``[first, end)`` under one set of terms; see the module docstring.

    Immutable once built; the report periods are built on first use.
    """

    __slots__ = (
        "_apart_from_data",
        "_downtime",
        "_excluded_periods",
        "causes",
        "counted",
        "down",
        "end",
        "excluded",
        "excluded_by_code",
        "first",
        "n_counted",
        "n_down",
        "n_no_data",
        "n_up",
        "no_data",
        "parts",
        "service",
        "spans",
    )

    def __init__(
        self,
        service: str,
        first: int,
        end: int,
        causes: frozenset[Cause],
        parts: tuple[MonthPart, ...],
    ) -> None:
        self.service = service
        self.first = first
        self.end = end
        self.causes = causes
        self.parts = parts
        self.counted = _join(r for p in parts for r in _clip(p.counted, first, end))
        self.no_data = _join(r for p in parts for r in _clip(p.no_data, first, end))
        self.excluded = _join_coded(
            (max(s, first), min(e, end), c)
            for p in parts
            for s, e, c in p.excluded
            if e > first and s < end
        )
        self.spans = tuple(sp for p in parts for sp in p.spans if sp.end > first and sp.start < end)
        self.down = union([self.counted, [(s, e) for s, e, _ in self.excluded]])
        by_code = [0] * len(CAUSE_PRECEDENCE)
        for s, e, c in self.excluded:
            by_code[c] += e - s
        self.excluded_by_code = tuple(by_code)
        self.n_counted = length(self.counted)
        self.n_down = self.n_counted + sum(by_code)
        self.n_no_data = length(self.no_data)
        no_data_up = self.n_no_data - overlap(self.no_data, self.down)
        self.n_up = (end - first) - self.n_down - no_data_up
        self._downtime: list[JSON] | None = None
        self._excluded_periods: list[JSON] | None = None
        self._apart_from_data: tuple[Any, ...] | None = None

    def apart_from_data(self) -> tuple[Any, ...]:
        """What the window says except which minutes had data (its coverage).

        Two windows of one service, span and terms with equal answers differ
        at most in their no-data minutes, and so in their up minutes; a
        minute without data that counts as down (``no_data_policy: down``)
        is left out of the counted runs here too, as the no-data minutes it is.
        """
        held = self._apart_from_data
        if held is None:
            counted = minus(self.counted, self.no_data) if self.no_data else self.counted
            held = self._apart_from_data = (
                self.service,
                self.first,
                self.end,
                self.causes,
                counted,
                self.excluded,
                self.spans,
            )
        return held

    def excluded_minutes(self) -> dict[str, int]:
        """Excluded minutes by cause: every excluded cause of the terms, in precedence order."""
        return excluded_by_cause(self.excluded_by_code, self.causes)

    def downtime_incidents(self) -> list[JSON]:
        """Maximal runs of counted-down minutes with the incidents that overlap them."""
        if self._downtime is None:
            self._downtime = [self._period(s, e) for s, e in self.counted]
        return [dict(p) for p in self._downtime]

    def excluded_periods(self) -> list[JSON]:
        """Runs of excluded-down minutes, split where the reported cause changes."""
        if self._excluded_periods is None:
            self._excluded_periods = [
                {**self._period(s, e), "excluded_cause": cause_of(c).value}
                for s, e, c in self.excluded
            ]
        return [dict(p) for p in self._excluded_periods]

    def _period(self, start: int, end: int) -> JSON:
        over = [sp for sp in self.spans if sp.start < end and sp.end > start]
        return {
            "service": self.service,
            "start": format_minute(start),
            "end": format_minute(end),
            "duration_minutes": end - start,
            "causes": sorted({sp.cause.value for sp in over}),
            "incident_ids": sorted({sp.incident_id for sp in over}),
        }


def excluded_by_cause(by_code: Sequence[int], causes: frozenset[Cause]) -> dict[str, int]:
    """Minutes by cause name: each excluded cause in precedence order, then any other seen."""
    out = {c.value: by_code[i] for i, c in enumerate(CAUSE_PRECEDENCE) if c in causes}
    for i, c in enumerate(CAUSE_PRECEDENCE):
        if by_code[i] and c.value not in out:
            out[c.value] = by_code[i]
    return out


class Bounded(dict[Any, Any]):
    """A dict that forgets its older half when it grows past ``cap`` entries."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def put(self, key: Any, value: Any) -> None:
        if len(self) >= self.cap:
            for old in list(self)[: self.cap // 2]:
                del self[old]
        self[key] = value


# -- run arithmetic (sorted, disjoint runs of epoch minutes) ---------------------------


def length(rs: Sequence[Run]) -> int:
    return sum(e - s for s, e in rs)


def _clip(rs: Sequence[Run], first: int, end: int) -> list[Run]:
    return [(max(s, first), min(e, end)) for s, e in rs if e > first and s < end]


def _join(rs: Any) -> tuple[Run, ...]:
    """Join touching runs of a sorted sequence (parts of consecutive months)."""
    out: list[Run] = []
    for s, e in rs:
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return tuple(out)


def _join_coded(rs: Any) -> tuple[CodedRun, ...]:
    out: list[CodedRun] = []
    for s, e, c in rs:
        if out and out[-1][1] == s and out[-1][2] == c:
            out[-1] = (out[-1][0], e, c)
        else:
            out.append((s, e, c))
    return tuple(out)


def union(lists: Sequence[Sequence[Run]]) -> tuple[Run, ...]:
    """The union of several sorted run lists, as sorted disjoint runs."""
    nonempty = [rs for rs in lists if rs]
    if not nonempty:
        return ()
    if len(nonempty) == 1:
        return tuple(nonempty[0])
    allruns = sorted(r for rs in nonempty for r in rs)
    out: list[Run] = [allruns[0]]
    for s, e in allruns[1:]:
        ls, le = out[-1]
        if s <= le:
            if e > le:
                out[-1] = (ls, e)
        else:
            out.append((s, e))
    return tuple(out)


def minus(a: Sequence[Run], b: Sequence[Run]) -> tuple[Run, ...]:
    """The minutes of ``a`` outside ``b`` (both sorted disjoint runs), as sorted runs."""
    out: list[Run] = []
    j = 0
    for s, e in a:
        while j < len(b) and b[j][1] <= s:
            j += 1
        k = j
        while s < e:
            if k >= len(b) or b[k][0] >= e:
                out.append((s, e))
                break
            if b[k][0] > s:
                out.append((s, b[k][0]))
            s = max(s, b[k][1])
            k += 1
    return tuple(out)


def overlap(a: Sequence[Run], b: Sequence[Run]) -> int:
    """Minutes in both ``a`` and ``b``."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


@dataclass(frozen=True, slots=True)
class ContractFigures:
    """Contract-level minute counts of SPEC section 6 (they partition the window)."""

    minutes: int
    counted: int
    excluded_by_code: tuple[int, ...]
    no_data: int
    up: int

    @property
    def down(self) -> int:
        return self.counted + sum(self.excluded_by_code)


_FIGURES = Bounded(262_144)


def contract_figures(first: int, end: int, windows: Sequence[ServiceWindow]) -> ContractFigures:
    """Counted, excluded (under the first cause by precedence), no-data and up minutes.

    A minute is counted when any service is counted-down in it; else excluded
    when any is excluded-down; else no-data when every service lacks data;
    else up. One sweep over the runs' edges; shared by every contract (and
    reading) over the same windows.
    """
    key = (first, end, *map(id, windows))
    held = _FIGURES.get(key)
    if held is not None and all(a is b for a, b in zip(held[0], windows, strict=True)):
        figs: ContractFigures = held[1]
        return figs
    figs = _figures(first, end, windows)
    _FIGURES.put(key, (tuple(windows), figs))
    return figs


def _figures(first: int, end: int, windows: Sequence[ServiceWindow]) -> ContractFigures:
    m = end - first
    k = len(windows)
    edges: list[tuple[int, int, int]] = []
    for w in windows:
        for s, e in w.counted:
            edges.append((s, 0, 1))
            edges.append((e, 0, -1))
        for s, e, c in w.excluded:
            edges.append((s, 1 + c, 1))
            edges.append((e, 1 + c, -1))
        for s, e in w.no_data:
            edges.append((s, 7, 1))
            edges.append((e, 7, -1))
    if not edges:
        return ContractFigures(m, 0, (0,) * len(CAUSE_PRECEDENCE), 0 if k else m, m if k else 0)
    edges.sort()
    active = [0] * 8  # 0 counted, 1..5 excluded by code, 7 no data
    counted = no_data = 0
    by_code = [0] * len(CAUSE_PRECEDENCE)
    prev = edges[0][0]
    for t, kind, delta in edges:
        if t > prev:
            span = t - prev
            if active[0]:
                counted += span
            else:
                for c in _CODES:
                    if active[1 + c]:
                        by_code[c] += span
                        break
                else:
                    if active[7] == k:
                        no_data += span
            prev = t
        active[kind] += delta
    excluded = sum(by_code)
    if k == 0:
        no_data = m
    return ContractFigures(m, counted, tuple(by_code), no_data, m - counted - excluded - no_data)


# -- the evaluator ---------------------------------------------------------------------


@lru_cache(maxsize=65_536)
def _utc_months(first: int, end: int) -> tuple[Month, ...]:
    return tuple(months_overlapping(first, end))


@lru_cache(maxsize=4096)
def minutes_of(at: datetime) -> tuple[int, int]:
    """``at`` rounded to the nearest minute, and the first minute starting at or after it."""
    return round_minute(at), epoch_minute_ceil(at)


def _clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x


class Evaluator:
    """The shared results of one book; see the module docstring. Not thread-safe."""

    PART_CAP = 65_536
    WINDOW_CAP = 262_144

    def __init__(self, book: Book) -> None:
        self.book = book
        self._parts = Bounded(self.PART_CAP)
        self._windows = Bounded(self.WINDOW_CAP)
        self._asked = Bounded(self.WINDOW_CAP)
        self._known: dict[str, tuple[int, list[datetime]]] = {}
        self._data_from: dict[int, tuple[Any, int | None]] = {}
        self._months: tuple[int, dict[str, list[Month]]] = (-1, {})
        #: results of later layers (statement contents), kept by their modules
        self.extra: dict[str, Any] = {}
        self._pass: dict[tuple[str, tuple[Month, ...]], Inputs] | None = None
        #: answers valid for the current :meth:`one_pass` only (None outside one)
        self.pass_memo: dict[Any, Any] | None = None
        #: how often each layer was computed rather than shared (for benchmarks and tests)
        self.computed = {"parts": 0, "windows": 0}
        #: minutes a provisional statement may keep its coverage figures while only
        #: they change (1: never; the streaming worker staggers longer refreshes)
        self.coverage_step = 1
        #: while set, a statement whose coverage tick alone moved keeps its content
        #: and is counted in ``deferred``: a pass can put real changes first
        self.defer_coverage = False
        self.deferred = 0
        #: per (service, UTC month, terms), whatever the instant: the part last
        #: returned and the generations of what it says (see :meth:`part_generation`)
        self._lineage: dict[tuple[str, Month, Terms], tuple[MonthPart, Any, int, Any, int]] = {}
        self._lineage_ids: dict[tuple[str, Month, Terms], int] = {}
        self._lineage_keys: list[tuple[str, Month, Terms]] = []

    # -- inputs, checked on every use ---------------------------------------------

    def _states(self, service: str, month: Month) -> Any:
        src = self.book.ledgers.get((service, month))
        if src is None:
            return None
        return src.minute_states(self.book.settings.probe_policy)

    def known_instants(self, service: str) -> list[datetime]:
        """Sorted instants at which a version of an incident naming ``service`` became known."""
        stamp = self.book.incident_stamp.get(service, 0)
        held = self._known.get(service)
        if held is not None and held[0] == stamp:
            return held[1]
        seen = {v.known_at for versions in self.book.incident_versions(service) for v in versions}
        instants = sorted(seen)
        self._known[service] = (stamp, instants)
        return instants

    def _known_key(self, service: str, known_by: datetime) -> datetime | None:
        instants = self.known_instants(service)
        i = bisect.bisect_right(instants, known_by)
        return instants[i - 1] if i else None

    def months_with_states(self, service: str) -> list[Month]:
        """UTC months holding a ledger or received states of ``service``, in order."""
        ledgers = self.book.ledgers
        held_len, index = self._months
        if held_len != len(ledgers):  # keys are only ever added
            index = {}
            for s, m in ledgers:
                index.setdefault(s, []).append(m)
            for months in index.values():
                months.sort()
            self._months = (len(ledgers), index)
        return index.get(service, [])

    def first_data_minute(self, service: str, month: Month) -> int | None:
        """The first minute of ``service`` in UTC ``month`` with a probe, or None."""
        states = self._states(service, month)
        if states is None:
            return None
        held = self._data_from.get(id(states))
        if held is not None and held[0] is states:
            return held[1]
        idx = np.flatnonzero(states != NO_DATA)
        first = None if idx.size == 0 else month_bounds(month)[0] + int(idx[0])
        if len(self._data_from) > self.PART_CAP:
            self._data_from.clear()
        self._data_from[id(states)] = (states, first)
        return first

    @contextmanager
    def one_pass(self) -> Iterator[None]:
        """A stretch of reads during which the book does not change.

        :meth:`inputs` answers each question once inside it.
        """
        self._pass = {}
        self.pass_memo = {}
        try:
            yield
        finally:
            self._pass = None
            self.pass_memo = None

    def inputs(self, service: str, first: int, end: int) -> Inputs:
        """What every result of ``service`` over ``[first, end)`` is computed from.

        Its incident stamp and the probe states of each UTC month overlapping
        the span (compared by identity, so equal answers mean equal inputs).
        """
        months = _utc_months(first, end)
        held = None if self._pass is None else self._pass.get((service, months))
        if held is not None:
            return held
        answer = Inputs(
            self.book.incident_stamp.get(service, 0),
            tuple(self._states(service, m) for m in months),
        )
        if self._pass is not None:
            self._pass[(service, months)] = answer
        return answer

    # -- layer 1 ------------------------------------------------------------------

    def part(
        self, service: str, month: Month, terms: Terms, as_of: datetime, known_by: datetime
    ) -> MonthPart:
        """``service`` over UTC ``month``; computed once per distinct set of facts."""
        ma, mb = month_bounds(month)
        rounded, ceil = minutes_of(as_of)
        key = (
            service,
            month,
            terms,
            _clamp(rounded, ma, mb),
            _clamp(ceil, ma, mb),
            self._known_key(service, known_by),
        )
        states = self._states(service, month)
        stamp = self.book.incident_stamp.get(service, 0)
        held = self._parts.get(key)
        if held is not None and held[0] is states and held[1] == stamp:
            part: MonthPart = held[2]
            self._descend(service, month, terms, part)
            return part
        self.computed["parts"] += 1
        ev = evaluate_service(self.book, service, ma, mb, as_of, terms, known_by)
        excluded: list[CodedRun] = []
        for a, b in runs(ev.excluded):
            codes = ev.cause_code[a:b]
            cuts = [0, *(np.flatnonzero(np.diff(codes)) + 1).tolist(), b - a]
            for i in range(len(cuts) - 1):
                code = int(codes[cuts[i]])
                assert code != NO_CAUSE
                excluded.append((ma + a + cuts[i], ma + a + cuts[i + 1], code))
        part = MonthPart(
            counted=tuple((ma + a, ma + b) for a, b in runs(ev.counted)),
            excluded=tuple(excluded),
            no_data=tuple((ma + a, ma + b) for a, b in runs(ev.no_data)),
            spans=ev.spans,
        )
        if held is not None and held[2] == part:
            # new probes that changed nothing here (a minute already up): keep the
            # old object, so every window and statement built on it stays valid
            part = held[2]
        self._parts.put(key, (states, stamp, part))
        self._descend(service, month, terms, part)
        return part

    def _descend(self, service: str, month: Month, terms: Terms, part: MonthPart) -> None:
        """Note ``part`` as the latest of its lineage; a new generation when it says more.

        Two generations per lineage: one moves when anything but the no-data
        minutes moves (what a statement shows of its own services), the other
        when anything but which minutes had data moves (what its readings show,
        a no-data minute counted as down included).
        """
        lk = (service, month, terms)
        held = self._lineage.get(lk)
        if held is not None and held[0] is part:
            return
        free = minus(part.counted, part.no_data) if part.no_data else part.counted
        full_key = (part.counted, free, part.excluded, part.spans)
        free_key = (free, part.excluded, part.spans)
        if held is None:
            self._lineage[lk] = (part, full_key, next(_GENERATIONS), free_key, next(_GENERATIONS))
            return
        _, old_full, full_gen, old_free, free_gen = held
        if full_key != old_full:
            full_gen = next(_GENERATIONS)
        if free_key != old_free:
            free_gen = next(_GENERATIONS)
        self._lineage[lk] = (part, full_key, full_gen, free_key, free_gen)

    def lineage(self, service: str, month: Month, terms: Terms, full: bool) -> int:
        """A small number naming ``service`` over UTC ``month`` under ``terms`` (see below)."""
        key = (service, month, terms)
        lid = self._lineage_ids.get(key)
        if lid is None:
            lid = self._lineage_ids[key] = len(self._lineage_keys)
            self._lineage_keys.append(key)
        return 2 * lid + full

    def generations(self, lineages: Sequence[int], as_of: datetime) -> tuple[int, ...]:
        """Per :meth:`lineage`, a number that stays while its part says the same apart from data.

        The part of the lineage's service, UTC month and terms as of
        ``as_of`` (known by then): equal numbers from two calls mean the two
        parts have equal counted and excluded runs and incident spans, and
        for a ``full`` lineage equal counted minutes without the no-data
        ones; they may differ only in which minutes had data. Numbers are
        never reused, so a number seen before means nothing changed in
        between. Within :meth:`one_pass` each lineage is asked once.
        """
        memo = self.pass_memo
        gens: dict[int, int] = {}
        if memo is not None:
            gens = memo.setdefault(("generations", as_of), gens)
        out = []
        for lin in lineages:
            gen = gens.get(lin)
            if gen is None:
                service, month, terms = self._lineage_keys[lin >> 1]
                part = self.part(service, month, terms, as_of, as_of)
                held = self._lineage[(service, month, terms)]
                assert held[0] is part
                gen = gens[lin] = held[2] if lin & 1 else held[4]
            out.append(gen)
        return tuple(out)

    # -- layer 2 ------------------------------------------------------------------

    def window(
        self,
        service: str,
        first: int,
        end: int,
        terms: Terms,
        as_of: datetime,
        known_by: datetime | None = None,
    ) -> ServiceWindow:
        """``service`` over ``[first, end)``: shared by every contract with that window."""
        known = as_of if known_by is None else known_by
        months = _utc_months(first, end)
        # the same question asked again (other contracts, readings, instants): check
        # that its inputs are unchanged instead of making its keys canonical again
        fast = (service, first, end, terms, as_of, known)
        stamp = self.book.incident_stamp.get(service, 0)
        seen = self._asked.get(fast)
        if seen is not None and seen[0] == stamp:
            states = seen[1]
            for i, m in enumerate(months):
                if states[i] is not self._states(service, m):
                    break
            else:
                asked: ServiceWindow = seen[2]
                return asked
        win = self._window(service, first, end, terms, as_of, known, months)
        self._asked.put(fast, (stamp, [self._states(service, m) for m in months], win))
        return win

    def _window(
        self,
        service: str,
        first: int,
        end: int,
        terms: Terms,
        as_of: datetime,
        known: datetime,
        months: Sequence[Month],
    ) -> ServiceWindow:
        parts = tuple(self.part(service, m, terms, as_of, known) for m in months)
        key = (service, first, end, terms, tuple(id(p) for p in parts))
        held = self._windows.get(key)
        if held is not None:
            win: ServiceWindow = held
            return win
        self.computed["windows"] += 1
        win = ServiceWindow(service, first, end, terms.excluded_causes, parts)
        self._windows.put(key, win)
        return win


class Inputs:
    """A service's incident stamp and probe-state arrays; equal only to the same inputs.

    Arrays compare by identity: a changed service-month gets a new array.
    """

    __slots__ = ("stamp", "states")

    def __init__(self, stamp: int, states: tuple[Any, ...]) -> None:
        self.stamp = stamp
        self.states = states

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Inputs):
            return NotImplemented
        return (
            self.stamp == other.stamp
            and len(self.states) == len(other.states)
            and all(a is b for a, b in zip(self.states, other.states, strict=True))
        )

    def __hash__(self) -> int:
        return hash((self.stamp, *map(id, self.states)))


def evaluator(book: Book) -> Evaluator:
    """The book's :class:`Evaluator`, made on first use."""
    ev = book.evaluator
    if ev is None:
        ev = book.evaluator = Evaluator(book)
    assert isinstance(ev, Evaluator)
    return ev
