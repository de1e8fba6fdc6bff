"""What the shared evaluation's three layers are made of: parts, windows and figures.

A :class:`MonthPart` is one service over one UTC month, as runs of a
per-minute evaluation (:func:`month_part`); a
:class:`ServiceWindow` is one service over a contract's window, the parts it
overlaps clipped and joined; :func:`contract_figures` assembles a contract's
minute counts from its windows by run arithmetic. The :class:`Bounded` dict
keeps the caches of these layers and the evaluator's. :mod:`sla.summaries`
decides when each is made, and re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from sla.evaluate import NO_CAUSE, ServiceEval, Span, cause_of, runs
from sla.minute_runs import CodedRun, Run, _clip, _join, _join_coded, length, minus, overlap, union
from sla.model import CAUSE_PRECEDENCE, JSON, Cause
from sla.process_shared import Bounded
from sla.timeutil import format_minute as _format_minute

#: period ends recur across every window of a month: format each once
format_minute = lru_cache(maxsize=65_536)(_format_minute)

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


def month_part(ev: ServiceEval, ma: int) -> MonthPart:
    """A per-minute evaluation of the UTC month starting at epoch minute ``ma``, as runs."""
    excluded: list[CodedRun] = []
    for a, b in runs(ev.excluded):
        codes = ev.cause_code[a:b]
        cuts = [0, *(np.flatnonzero(np.diff(codes)) + 1).tolist(), b - a]
        for i in range(len(cuts) - 1):
            code = int(codes[cuts[i]])
            assert code != NO_CAUSE
            excluded.append((ma + a + cuts[i], ma + a + cuts[i + 1], code))
    return MonthPart(
        counted=tuple((ma + a, ma + b) for a, b in runs(ev.counted)),
        excluded=tuple(excluded),
        no_data=tuple((ma + a, ma + b) for a, b in runs(ev.no_data)),
        spans=ev.spans,
    )


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
