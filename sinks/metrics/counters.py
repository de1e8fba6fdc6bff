"""Counters that only grow, made from state that can go down or drop out.

:class:`MonotonicTotals` turns month-to-date minute counts into minute
counters; :class:`TicketTotals` counts each ticket's breach and first
response once. The collector keeps one of each per counter family.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sinks.metrics.names import RESPONSE_BUCKETS, TICKET_SEVERITIES
from sla.results import TicketVerdict


class MonotonicTotals:
    """Counters made from month-to-date counts that can go down.

    The state holds counts per (key, month, state) that usually grow, but a
    revision can lower one (an incident reclassified to ``aws`` moves minutes
    from ``counted_down`` to ``excluded_down``) and an evicted month drops
    out. A Prometheus counter must never decrease, or ``rate()`` reads the
    decrease as a restart and adds the whole new value. So the exported
    total per (key, state) adds only the *increases* of each (key, month,
    state) count between observations; a decrease is remembered as the new
    level and not subtracted. The counter therefore reads "minutes that
    entered this state", which is what a burn rate needs: a minute counted
    down and later excluded did burn budget at the time it happened, and the
    current, revised truth is in the month-to-date gauges.

    With ``count_history`` false (the streaming worker) the first
    observation is a baseline: the counts already present contribute 0, so
    a restart whose state is recovered from the changelog is a clean counter
    reset and not a spike of a month's minutes inside one ``rate()`` window.
    Keys first seen later (a new month, a new service) count in full. With
    ``count_history`` true (offline replays) the first observation counts
    in full. Thread-safe.
    """

    def __init__(self, count_history: bool = False) -> None:
        self._count_first = count_history
        self._primed = False
        self._last: dict[tuple[str, str, str], int] = {}
        self._totals: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def observe(self, counts: Mapping[tuple[str, str, str], int]) -> dict[tuple[str, str], int]:
        """Fold counts by (key, month, state); return the totals by (key, state)."""
        with self._lock:
            baseline = not self._primed and not self._count_first
            for (key, month, state), value in counts.items():
                prev = self._last.get((key, month, state))
                if prev is None:
                    prev = value if baseline else 0
                total = self._totals.get((key, state), 0)
                self._totals[(key, state)] = total + max(0, value - prev)
                self._last[(key, month, state)] = value
            for gone in set(self._last) - set(counts):
                del self._last[gone]
            self._primed = True
            return dict(self._totals)


# -- support counters ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupportFigures:
    """What the support metrics show at one scrape (see :class:`TicketTotals`)."""

    open: dict[str, int]
    at_risk: dict[str, int]
    breaches: dict[str, int]
    buckets: dict[str, list[int]]  # cumulative, one per RESPONSE_BUCKETS bound, then +Inf
    seconds: dict[str, Decimal]


class TicketTotals:
    """Per-ticket counters for the breach counter and the response histogram.

    A ticket counts once: in the breach counter when it is first seen
    breached, in the histogram when it is first seen with a first response,
    each under the ``ticket_severity`` it had then. Later changes (a severity
    change after the response, a re-evaluation) never move an observation,
    so every series only grows and the histogram's buckets stay cumulative.
    A ticket is breached at scrape time when its verdict says so or when it
    has no response and ``now`` has reached its deadline (the state may not
    have re-evaluated it yet); the gauges use the same reading.

    With ``count_history`` false (the worker) the tickets already breached
    or responded at the first scrape are a baseline and count 0, as in
    :class:`MonotonicTotals`: a restart is a clean counter reset. Tickets
    that leave the state are forgotten. Thread-safe.
    """

    def __init__(self, count_history: bool = False) -> None:
        self._count_first = count_history
        self._primed = False
        self._breached: set[str] = set()
        self._responded: set[str] = set()
        self._breaches = dict.fromkeys(TICKET_SEVERITIES, 0)
        self._buckets = {s: [0] * (len(RESPONSE_BUCKETS) + 1) for s in TICKET_SEVERITIES}
        self._seconds = dict.fromkeys(TICKET_SEVERITIES, Decimal(0))
        self._lock = threading.Lock()

    def observe(self, verdicts: Iterable[TicketVerdict], now: datetime) -> SupportFigures:
        """Fold the latest verdicts at ``now``; return the figures to export."""
        open_now = dict.fromkeys(TICKET_SEVERITIES, 0)
        at_risk_now = dict.fromkeys(TICKET_SEVERITIES, 0)
        with self._lock:
            count = self._primed or self._count_first
            seen: set[str] = set()
            for v in verdicts:
                tid, severity = v.ticket_id, v.severity
                if tid in seen:
                    continue
                seen.add(tid)
                responded = v.responded_at
                breached = v.status == "breached" or (responded is None and now >= v.deadline)
                if responded is None and not breached:
                    open_now[severity] += 1
                    if now >= v.at_risk_at:
                        at_risk_now[severity] += 1
                if breached and tid not in self._breached:
                    self._breached.add(tid)
                    if count:
                        self._breaches[severity] += 1
                minutes = v.response_business_minutes
                if responded is not None and minutes is not None and tid not in self._responded:
                    self._responded.add(tid)
                    if count:
                        self._histogram(severity, minutes * 60)
            self._breached &= seen
            self._responded &= seen
            self._primed = True
            return SupportFigures(
                open=open_now,
                at_risk=at_risk_now,
                breaches=dict(self._breaches),
                buckets={s: list(b) for s, b in self._buckets.items()},
                seconds=dict(self._seconds),
            )

    def _histogram(self, severity: str, seconds: Decimal) -> None:
        buckets = self._buckets[severity]
        for i, bound in enumerate(RESPONSE_BUCKETS):
            if seconds <= bound:
                buckets[i] += 1
        buckets[-1] += 1
        self._seconds[severity] += seconds


__all__ = ["MonotonicTotals", "SupportFigures", "TicketTotals"]
