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

The parts, windows and figures are made in :mod:`sla.service_window`, the
runs in :mod:`sla.minute_runs`; both are re-exported here, for callers.
Parts and windows are also shared between the books of one process
(:mod:`sla.process_shared`), checked against the asking book's own facts.

One module over 400 lines, for one reason: the evaluator's layers, their
lineages and the checks of what each holds are one cache whose keys must
agree; apart, each half would reach into the other's private maps.
"""

from __future__ import annotations

import bisect
import itertools
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from sla.evaluate import Terms, evaluate_service
from sla.minute_runs import (
    CodedRun,
    Run,
    _clamp,
    _utc_months,
    length,
    minus,
    minutes_of,
    overlap,
    union,
)
from sla.months import Month, month_bounds
from sla.probes import NO_DATA
from sla.process_shared import Bounded, SharedResults
from sla.service_window import (
    ContractFigures,
    MonthPart,
    ServiceWindow,
    contract_figures,
    excluded_by_cause,
    format_minute,
    month_part,
)

if TYPE_CHECKING:
    from sla.book import Book

__all__ = [
    "Bounded",
    "CodedRun",
    "ContractFigures",
    "Evaluator",
    "Inputs",
    "MonthPart",
    "Run",
    "ServiceWindow",
    "contract_figures",
    "evaluator",
    "excluded_by_cause",
    "forget_shared",
    "format_minute",
    "length",
    "minus",
    "minutes_of",
    "overlap",
    "union",
]


#: generations of :meth:`Evaluator.part_generation`, unique in the process
_GENERATIONS = itertools.count(1)
#: month parts and service windows of every book of the process (the statement
#: partitions of a worker fold the same states and incidents): see :meth:`Evaluator.part`
_SHARED_PARTS = SharedResults(65_536)
_SHARED_WINDOWS = SharedResults(262_144)

# -- the evaluator ---------------------------------------------------------------------


class Evaluator:
    """The shared results of one book; see the module docstring. Not thread-safe."""

    PART_CAP = 65_536
    WINDOW_CAP = 262_144

    def __init__(self, book: Book) -> None:
        # by weak reference: the book holds its evaluator, and a cycle between them
        # would outlive a book dropped after a pass whose objects were frozen
        # (sla.process_shared.collector_paused): the whole book, kept for good
        self.book: Book = cast("Book", weakref.proxy(book))
        self._parts = Bounded(self.PART_CAP)
        self._asked = Bounded(self.WINDOW_CAP)
        self._known: dict[str, tuple[int, list[datetime]]] = {}
        self._incidents: dict[str, tuple[int, tuple[Any, ...]]] = {}
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
        # Another book of the process may have evaluated the same facts: the same
        # states array (received states are shared by content), equal incident
        # versions and settings. Its part is this book's answer too.
        facts = (self._incident_facts(service), self.book.settings)
        shared = _SHARED_PARTS.found(key, states, facts)
        part = shared
        if part is None:
            self.computed["parts"] += 1
            part = month_part(
                evaluate_service(self.book, service, ma, mb, as_of, terms, known_by), ma
            )
        if held is not None and held[2] is not part and held[2] == part:
            # new probes that changed nothing here (a minute already up): keep the
            # old object, so every window and statement built on it stays valid
            part = held[2]
        if part is not shared:
            _SHARED_PARTS.keep(key, states, facts, part)
        self._parts.put(key, (states, stamp, part))
        self._descend(service, month, terms, part)
        return part

    def _incident_facts(self, service: str) -> tuple[Any, ...]:
        """Every incident version naming ``service``: what its parts read of incidents."""
        stamp = self.book.incident_stamp.get(service, 0)
        held = self._incidents.get(service)
        if held is None or held[0] != stamp:
            facts = tuple(v for versions in self.book.incident_versions(service) for v in versions)
            held = self._incidents[service] = (stamp, facts)
        found: tuple[Any, ...] = held[1]
        return found

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
        # a window is a function of its parts: kept once for every book (see part)
        win: ServiceWindow | None = _SHARED_WINDOWS.found(key, None, parts)
        if win is None:
            self.computed["windows"] += 1
            win = ServiceWindow(service, first, end, terms.excluded_causes, parts)
            _SHARED_WINDOWS.keep(key, None, parts, win)
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


def forget_shared() -> None:
    """Drop the parts and windows shared by the process's books (each book keeps its own)."""
    _SHARED_PARTS.clear()
    _SHARED_WINDOWS.clear()


def evaluator(book: Book) -> Evaluator:
    """The book's :class:`Evaluator`, made on first use."""
    ev = book.evaluator
    if ev is None:
        ev = book.evaluator = Evaluator(book)
    assert isinstance(ev, Evaluator)
    return ev
