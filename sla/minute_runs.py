"""Run arithmetic: sorted, disjoint runs ``[start, end)`` of epoch minutes.

What windows, contract figures and claims are computed with: the length of
runs, clipping and joining them, their union, difference and overlap; and
the minutes and UTC months an instant or a span of minutes keys results by.
Re-exported by :mod:`sla.summaries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sla.months import Month, months_overlapping
from sla.timeutil import epoch_minute_ceil, round_minute

Run = tuple[int, int]
CodedRun = tuple[int, int, int]


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


# -- the minutes and UTC months that key a result -------------------------------------


@lru_cache(maxsize=65_536)
def _utc_months(first: int, end: int) -> tuple[Month, ...]:
    return tuple(months_overlapping(first, end))


@lru_cache(maxsize=4096)
def minutes_of(at: datetime) -> tuple[int, int]:
    """``at`` rounded to the nearest minute, and the first minute starting at or after it."""
    return round_minute(at), epoch_minute_ceil(at)


def _clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x
