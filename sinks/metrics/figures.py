"""The outputs a scrape reads, as typed values, and the minute figures of one month.

Helpers of the collector. :class:`TypedOutputs` turns the statements,
service-month records and ticket verdicts a state hands over into
:mod:`sla.results` values,
reading each output once and not again at every scrape; the rest say which
minutes a month spans, keep the latest revision per key and month, and
count a month's elapsed minutes by state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from sla.months import Month, month_bounds
from sla.results import (
    ContractMonth,
    Instant,
    ServiceMonth,
    TicketVerdict,
    read_contract_month,
    read_service_month,
    read_ticket_verdict,
)
from sla.timeutil import epoch_minute

#: a typed output
Typed = TypeVar("Typed", ContractMonth, ServiceMonth, TicketVerdict)
#: a typed month output
MonthOutput = TypeVar("MonthOutput", ContractMonth, ServiceMonth)


#: the field holding an output's nested content, the same object while its content is
_ANCHORS: dict[type[Any], str] = {ContractMonth: "services", ServiceMonth: "intervals"}
_ABSENT = object()

#: the reader of each typed output
_READERS: dict[type[Any], Callable[[Any], Any]] = {
    ContractMonth: read_contract_month,
    ServiceMonth: read_service_month,
    TicketVerdict: read_ticket_verdict,
}


class TypedOutputs(Generic[Typed]):
    """The typed values of the outputs a state hands over, each output read once.

    An output the state handed over at the previous scrape (the same object:
    a state hands out outputs it never changes, ``PipelineState``) is not
    read again; a new one (a new revision, a new month) is read with
    the reader of its kind in :mod:`sla.results`, which refuses what is not
    an output of that kind
    (:class:`sla.results.ResultError`: the scrape fails, as the collector
    wants of a state it cannot read). An output that is already typed is
    taken as it is. The cache keeps only what the last scrape was handed,
    so it holds no more than the state does.

    A statement or record remade with nothing new but ``computed_at`` is
    not read again either. The worker's stages remake every output of a
    partition at each recomputation, a copy of the last one with the new
    instant whenever nothing it depends on changed, so a live book hands
    over new objects at nearly every scrape (a read is 40 µs a statement,
    half a second a scrape at 10,000 contracts). Such a copy holds the very
    objects of the one read before, its nested content (``services``,
    ``intervals``) first: when every field but ``computed_at`` is the same
    object, the typed value read before is kept with the new instant, read
    by the same rules as a whole output's.
    """

    def __init__(self, kind: type[Typed]) -> None:
        self._kind: type[Typed] = kind
        self._read: Callable[[Any], Typed] = _READERS[kind]
        self._anchor = _ANCHORS.get(kind)
        self._seen: dict[int, tuple[Mapping[str, Any], Typed]] = {}
        #: by the id of an output's nested content: the output and its typed value
        self._anchored: dict[int, tuple[object, Mapping[str, Any], Typed]] = {}
        self._lock = threading.Lock()  # scrapes may run on several HTTP threads

    def read(self, outputs: Iterable[Mapping[str, Any] | Typed]) -> list[Typed]:
        with self._lock:
            seen = self._seen
            kept: dict[int, tuple[Mapping[str, Any], Typed]] = {}
            anchored: dict[int, tuple[object, Mapping[str, Any], Typed]] = {}
            values: list[Typed] = []
            for out in outputs:
                if isinstance(out, self._kind):
                    values.append(out)
                    continue
                if not isinstance(out, Mapping):
                    values.append(self._read(out))  # not an output: the reader says why
                    continue
                hit = seen.get(id(out))
                # the object itself is held in the cache, so its id is not reused
                anchor = None if self._anchor is None else out.get(self._anchor)
                if not isinstance(anchor, dict):
                    anchor = None
                if hit is not None and hit[0] is out:
                    typed = hit[1]
                else:
                    typed = self._remade(out, anchor) or self._read(out)
                kept[id(out)] = (out, typed)
                if anchor is not None:
                    anchored[id(anchor)] = (anchor, out, typed)
                values.append(typed)
            self._seen = kept
            self._anchored = anchored
            return values

    def _remade(self, out: Mapping[str, Any], anchor: object) -> Typed | None:
        """The value read before, if ``out`` is a copy of its output with a new ``computed_at``.

        ``anchor`` is ``out``'s nested content (None: it has none to go by).
        """
        if anchor is None:
            return None
        held = self._anchored.get(id(anchor))
        if held is None or held[0] is not anchor:
            return None
        _, before, typed = held
        if len(out) != len(before):
            return None
        for name, value in out.items():
            if value is not before.get(name, _ABSENT) and name != "computed_at":
                return None
        try:
            at = msgspec.convert(out.get("computed_at"), Instant)
        except msgspec.ValidationError:
            return None  # the whole read says what is wrong
        return msgspec.structs.replace(typed, computed_at=at)


@dataclass(frozen=True, slots=True)
class _Figures:
    """The minute counts of one month of a contract or service at ``now``."""

    minutes: int
    elapsed: int
    counted: int
    excluded: int
    no_data: int

    @property
    def up(self) -> int:
        # Future minutes are not up yet: only elapsed minutes are partitioned.
        return max(0, self.elapsed - self.counted - self.excluded - self.no_data)

    def by_state(self) -> dict[str, int]:
        return {
            "up": self.up,
            "counted_down": self.counted,
            "excluded_down": self.excluded,
            "no_data": self.no_data,
        }


def _figures(rec: ContractMonth | ServiceMonth, first: int, end: int, now_minute: int) -> _Figures:
    counted = rec.counted_downtime_minutes
    return _Figures(
        minutes=rec.minutes_in_month,
        elapsed=min(end, max(first, now_minute)) - first,
        counted=counted,
        excluded=max(0, rec.down_minutes - counted),
        no_data=rec.no_data_minutes,
    )


def _contract_span(st: ContractMonth) -> tuple[int, int]:
    return epoch_minute(st.period_start), epoch_minute(st.period_end)


def _service_span(rec: ServiceMonth) -> tuple[int, int]:
    return month_bounds(Month.parse(rec.month))


def _latest(
    records: Iterable[MonthOutput], key: Callable[[MonthOutput], str]
) -> dict[tuple[str, str], MonthOutput]:
    """The highest revision per (key, month): the protocol promises one, this enforces it."""
    out: dict[tuple[str, str], MonthOutput] = {}
    for rec in records:
        k = (key(rec), rec.month)
        cur = out.get(k)
        if cur is None or rec.revision >= cur.revision:
            out[k] = rec
    return out


def _budget_ratio(budget: int, remaining: int) -> float:
    # A month with a zero budget (a contract in force for < 1000 minutes of it
    # at 99.9 %) has nothing to spend: untouched it is whole (1), otherwise
    # each counted minute is one budget's worth over (-D).
    if budget > 0:
        return remaining / budget
    return 1.0 if remaining >= 0 else float(remaining)
