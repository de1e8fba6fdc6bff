"""Minute-by-minute classification of services over a span of minutes.

Given the book, a service, a span ``[first, end)`` of epoch minutes, the
instant ``as_of`` and the contract's terms, :func:`evaluate_service` says for
every minute whether it is down, counted, excluded (and under which cause) or
without data (SPEC sections 3 and 4). Minutes that start at or after ``as_of``
have not happened yet: they are neither down nor without data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from sla.book import Book
from sla.model import CAUSE_PRECEDENCE, Cause, Impact, IncidentStatus, IncidentVersion, NoDataPolicy
from sla.months import month_bounds, months_overlapping
from sla.probes import DOWN, NO_DATA, UP
from sla.timeutil import epoch_minute_ceil, round_minute

#: Cause code for "no excluded cause covers this minute".
NO_CAUSE = 127
_CODE = {c: i for i, c in enumerate(CAUSE_PRECEDENCE)}

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Terms:
    """The parts of a contract that decide minute states."""

    excluded_causes: frozenset[Cause]
    no_data_policy: NoDataPolicy
    declared_outage_counts: bool


@dataclass(frozen=True, slots=True)
class Span:
    """The minutes ``[start, end)`` an incident's winning version covers for a service."""

    incident_id: str
    start: int
    end: int
    cause: Cause
    impact: Impact


@dataclass(frozen=True, slots=True)
class ServiceEval:
    """Per-minute classification of one service over ``[first, first + len)``."""

    service: str
    first: int
    down: BoolArray
    counted: BoolArray
    cause_code: npt.NDArray[np.int8]
    no_data: BoolArray
    up: BoolArray
    spans: tuple[Span, ...]

    @property
    def excluded(self) -> BoolArray:
        return self.down & ~self.counted


def winning_version(versions: list[IncidentVersion], known_by: datetime) -> IncidentVersion | None:
    """The best version (``versions`` sorted best first) known by ``known_by``."""
    for v in versions:
        if v.known_at <= known_by:
            return v
    return None


def incident_spans(
    book: Book, service: str, first: int, end: int, as_of: datetime, known_by: datetime
) -> list[Span]:
    """Spans of every live incident covering ``service`` inside ``[first, end)``.

    An open incident (no ``ended_at``) runs to ``as_of`` rounded; a retracted
    one covers nothing.
    """
    now = round_minute(as_of)
    spans = []
    for versions in book.incident_versions(service):
        v = winning_version(versions, known_by)
        if v is None or v.status is IncidentStatus.RETRACTED or service not in v.services:
            continue
        s = max(first, round_minute(v.started_at))
        e = min(end, round_minute(v.ended_at) if v.ended_at is not None else now)
        if e > s:
            spans.append(Span(v.incident_id, s, e, v.cause, v.impact))
    return spans


def probe_states(book: Book, service: str, first: int, end: int) -> npt.NDArray[np.int8]:
    """Probe-only states of ``service`` for ``[first, end)`` (``NO_DATA`` where no ledger)."""
    out = np.full(end - first, NO_DATA, dtype=np.int8)
    for month in months_overlapping(first, end):
        led = book.ledgers.get((service, month))
        if led is None:
            continue
        ma, mb = month_bounds(month)
        a, b = max(first, ma), min(end, mb)
        out[a - first : b - first] = led.minute_states(book.settings.probe_policy)[a - ma : b - ma]
    return out


def evaluate_service(
    book: Book,
    service: str,
    first: int,
    end: int,
    as_of: datetime,
    terms: Terms,
    known_by: datetime | None = None,
) -> ServiceEval:
    """Classify every minute of ``service`` in ``[first, end)``; see the module docstring."""
    n = end - first
    known = as_of if known_by is None else known_by
    spans = incident_spans(book, service, first, end, as_of, known)
    elapsed = np.zeros(n, dtype=bool)
    elapsed[: max(0, min(n, epoch_minute_ceil(as_of) - first))] = True

    declared = np.zeros(n, dtype=bool)
    code = np.full(n, NO_CAUSE, dtype=np.int8)
    for sp in spans:
        a, b = sp.start - first, sp.end - first
        if sp.impact is Impact.OUTAGE and terms.declared_outage_counts:
            declared[a:b] = True
        if sp.cause in terms.excluded_causes:
            np.minimum(code[a:b], _CODE[sp.cause], out=code[a:b])

    probes = probe_states(book, service, first, end)
    no_data = (probes == NO_DATA) & ~declared & elapsed
    down = ((probes == DOWN) | declared) & elapsed
    if terms.no_data_policy is NoDataPolicy.DOWN:
        down |= no_data
    counted = down & (code == NO_CAUSE)
    code[~down] = NO_CAUSE
    # up: probes said up, or the minute has not happened yet; independent of the
    # down and no-data masks so that up + down + no_data = M is a real check
    up = ((probes == UP) & ~declared & elapsed) | ~elapsed
    return ServiceEval(service, first, down, counted, code, no_data, up, tuple(spans))


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """Maximal runs ``[start, end)`` of True in ``mask`` (indices)."""
    if mask.size == 0:
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(edges[i]), int(edges[i + 1])) for i in range(0, edges.size, 2)]


def cause_of(code: int) -> Cause:
    """The cause behind a cause code."""
    return CAUSE_PRECEDENCE[code]
