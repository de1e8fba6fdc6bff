"""The minute figures of one month, read from a statement or a service record.

Helpers of the collector: which months a record spans, the latest revision
per key and month, and the counts of a month's elapsed minutes by state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sla.model import DEFAULT_TIERS, JSON, CreditTier
from sla.months import Month, month_bounds
from sla.timeutil import epoch_minute, parse_instant


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _tiers(statement: Mapping[str, Any]) -> tuple[CreditTier, ...]:
    raw = statement.get("credit_tiers")
    if not raw:
        return DEFAULT_TIERS
    return tuple(
        CreditTier(Decimal(str(t["below"])), Decimal(str(t["credit_percent"]))) for t in raw
    )


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


def _figures(rec: Mapping[str, Any], first: int, end: int, now_minute: int) -> _Figures:
    counted = _int(rec.get("counted_downtime_minutes"))
    down = _int(rec.get("down_minutes"))
    return _Figures(
        minutes=_int(rec.get("minutes_in_month")),
        elapsed=min(end, max(first, now_minute)) - first,
        counted=counted,
        excluded=max(0, down - counted),
        no_data=_int(rec.get("no_data_minutes")),
    )


def _contract_span(st: Mapping[str, Any]) -> tuple[int, int]:
    return (
        epoch_minute(parse_instant(str(st["period_start"]))),
        epoch_minute(parse_instant(str(st["period_end"]))),
    )


def _service_span(rec: Mapping[str, Any]) -> tuple[int, int]:
    return month_bounds(Month.parse(str(rec["month"])))


def _latest(records: Iterable[Mapping[str, Any]], key: str) -> dict[tuple[str, str], JSON]:
    """The highest revision per (key, month): the protocol promises one, this enforces it."""
    out: dict[tuple[str, str], JSON] = {}
    for rec in records:
        k = (str(rec[key]), str(rec["month"]))
        cur = out.get(k)
        if cur is None or _int(rec.get("revision")) >= _int(cur.get("revision")):
            out[k] = dict(rec)
    return out


def _budget_ratio(budget: int, remaining: int) -> float:
    # A month with a zero budget (a contract in force for < 1000 minutes of it
    # at 99.9 %) has nothing to spend: untouched it is whole (1), otherwise
    # each counted minute is one budget's worth over (-D).
    if budget > 0:
        return remaining / budget
    return 1.0 if remaining >= 0 else float(remaining)
