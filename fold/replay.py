"""Offline replay: fold a file of events through the core (no Kafka).

:func:`replay_lines` is the whole pipeline without Kafka: number the lines
of a file (:func:`iter_lines`), fold them in batches with the shared
:class:`~fold.folder.Folder` (the valid events into a :class:`~sla.book.Book`,
the rest dead-lettered), and compute every statement, record and claim
decision as of ``as_of`` (:func:`compute_outputs`). The streaming worker
folds with the same :class:`~fold.folder.Folder` and computes with
:func:`compute_outputs`, so it must produce the same statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, TypeVar

from fold.deadletters import DeadLetter, FoldStats
from fold.folder import Folder
from schemas import domain
from sla import support
from sla.book import Book, Settings
from sla.business_clock import BusinessCalendar
from sla.claims import all_claim_decisions
from sla.model import JSON
from sla.process_shared import collector_paused
from sla.statements import all_statements
from sla.timeutil import format_instant

T = TypeVar("T")


@dataclass
class ReplayResult:
    """Everything a replay produced."""

    as_of: datetime
    outputs: list[JSON]
    dead_letters: list[DeadLetter]
    stats: FoldStats
    book: Book


#: Lines decoded per validator call.
BATCH = 1024


def batched(items: Iterable[T], n: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``n`` items."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def iter_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Number the lines of a JSON Lines stream (1-based), skipping blank lines."""
    for no, line in enumerate(stream, start=1):
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            yield no, raw


def replay_lines(
    lines: Iterable[tuple[int, bytes]],
    as_of: datetime,
    settings: Settings | None = None,
    source_name: str = "<stdin>",
    on_dead_letter: Callable[[DeadLetter], None] | None = None,
) -> ReplayResult:
    """Fold numbered lines and compute every output as of ``as_of``.

    The cyclic garbage collector is paused meanwhile
    (:func:`sla.process_shared.collector_paused`, as during the worker's
    recomputation): what a replay makes lives until it returns and holds no
    reference cycles, and the collections that a growing heap triggers
    scanned all of it again and again, a tenth of a replay of a
    10,000-contract book.
    """
    with collector_paused():
        book = Book(settings)
        folder = Folder(book, as_of)
        dead: list[DeadLetter] = []
        for batch in batched(lines, BATCH):
            raws = [raw for _, raw in batch]
            sources = [{"file": source_name, "line": no} for no, _ in batch]
            for dl in folder.ingest_batch(raws, sources):
                dead.append(dl)
                if on_dead_letter is not None:
                    on_dead_letter(dl)
        outputs = compute_outputs(book, as_of, folder.tickets)
    return ReplayResult(as_of, outputs, dead, folder.stats, book)


def compute_outputs(
    book: Book,
    as_of: datetime,
    tickets: list[Any],
    calendar: BusinessCalendar | None = None,
) -> list[JSON]:
    """Statements, records, claim decisions and support verdicts as of ``as_of``, in order."""
    outputs = list(all_statements(book, as_of))
    # one computation from every event is a decision's first revision (SPEC section 7)
    outputs.extend({**d, "revision": 0} for d in all_claim_decisions(book, as_of))
    outputs.extend(support_outputs(tickets, as_of, calendar or BusinessCalendar()))
    return outputs


def _minutes_text(value: Fraction | None) -> str | None:
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return format(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


def _ticket_events(tickets: Iterable[Any]) -> list[support.TicketEvent]:
    """Support-clock events of wire ticket events (already-converted ones pass through)."""
    return [t if isinstance(t, support.TicketEvent) else domain.ticket_event(t) for t in tickets]


def _verdict_line(v: support.TicketVerdict, as_of: datetime) -> JSON:
    return {
        "kind": "ticket_verdict",
        "ticket_id": v.ticket_id,
        "client_id": v.client_id,
        "severity": v.severity,
        "opened_at": format_instant(v.opened_at),
        "deadline": format_instant(v.deadline),
        "at_risk_at": format_instant(v.at_risk_at),
        "responded_at": format_instant(v.responded_at) if v.responded_at else None,
        "status": v.status,
        "policy": v.policy,
        "response_business_minutes": _minutes_text(v.response_business_minutes),
        "computed_at": format_instant(as_of),
    }


def _alert_line(alert: support.TicketAlert, as_of: datetime) -> JSON:
    return {
        "kind": "ticket_alert",
        "alert": alert.alert,
        "ticket_id": alert.ticket_id,
        "client_id": alert.client_id,
        "severity": alert.severity,
        "policy": alert.policy,
        "opened_at": format_instant(alert.opened_at),
        "deadline": format_instant(alert.deadline),
        "at": format_instant(alert.at),
        "computed_at": format_instant(as_of),
    }


def _support_month_line(row: support.ComplianceRow, as_of: datetime) -> JSON:
    return {
        "kind": "support_month",
        "client_id": row.client_id,
        "month": row.month,
        "severity": row.severity,
        "met": row.met,
        "breached": row.breached,
        "open": row.open,
        "at_risk": row.at_risk,
        "responded": row.responded,
        "p50_business_minutes": _minutes_text(row.p50_business_minutes),
        "p90_business_minutes": _minutes_text(row.p90_business_minutes),
        "p95_business_minutes": _minutes_text(row.p95_business_minutes),
        "computed_at": format_instant(as_of),
    }


def support_outputs(tickets: list[Any], as_of: datetime, calendar: BusinessCalendar) -> list[JSON]:
    """``ticket_verdict``, then ``ticket_alert``, then ``support_month`` lines (SPEC section 8).

    Alerts: one per ticket and moment that has passed by ``as_of`` without a
    first response (:func:`sla.support.ticket_alerts`), tickets in id order,
    ``at_risk`` before ``breached``.
    """
    if not tickets:
        return []
    verdicts = support.fold_ticket_events(_ticket_events(tickets), as_of, calendar)
    return [
        *(_verdict_line(v, as_of) for v in verdicts.values()),
        *(_alert_line(a, as_of) for v in verdicts.values() for a in support.ticket_alerts(v)),
        *(
            _support_month_line(row, as_of)
            for row in support.monthly_compliance(verdicts.values(), calendar)
        ),
    ]


def next_support_moment(
    tickets: Iterable[Any], now: datetime, calendar: BusinessCalendar | None = None
) -> datetime | None:
    """When the support outputs next change with no new event arriving, or None.

    ``tickets`` are what :func:`compute_outputs` takes (``Folder.tickets``:
    the wire ticket events); the answer is
    :func:`sla.support.next_ticket_moment` on them, an aware UTC instant
    strictly after ``now``. A streaming caller recomputes the outputs as of
    that instant when it comes, then asks again.
    """
    events = _ticket_events(tickets)
    if not events:
        return None
    return support.next_ticket_moment(events, now, calendar or BusinessCalendar())


__all__ = [
    "BATCH",
    "ReplayResult",
    "batched",
    "compute_outputs",
    "iter_lines",
    "next_support_moment",
    "replay_lines",
    "support_outputs",
]
