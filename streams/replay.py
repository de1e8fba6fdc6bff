"""Offline replay: fold a file of events through the core (no Kafka).

:func:`replay_lines` is the whole pipeline without Kafka: decode each line
with the shared codec, fold the valid events into a :class:`~sla.book.Book`,
dead-letter the rest, and compute every statement, record and claim decision
as of ``as_of``. The streaming worker must produce the same statements.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, TypeVar

from schemas import domain
from schemas.codec import Rejected
from schemas.edge import decode_edge, probe_minute, validate_batch
from schemas.events import (
    ClaimEvent,
    ContractEvent,
    IncidentEvent,
    ProbeEvent,
)
from sla import support
from sla.book import Book, Settings
from sla.business_clock import BusinessCalendar
from sla.claims import all_claim_decisions
from sla.probes import DIGEST_PRIME, ProbeLedger
from sla.statements import all_statements
from sla.timeutil import epoch_minute, format_instant, parse_instant

JSON = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected input: its raw bytes, why, and where it came from."""

    reason: str
    detail: str
    raw: bytes
    source: dict[str, Any]

    def to_json(self) -> JSON:
        text = self.raw.decode("utf-8", errors="replace")
        return {
            "kind": "dead_letter",
            "reason": self.reason,
            "detail": self.detail,
            "source": self.source,
            "raw_base64": base64.b64encode(self.raw).decode("ascii"),
            "raw_preview": text[:512],
        }


@dataclass
class FoldStats:
    """What a fold saw, by event type."""

    events: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    not_yet_known: int = 0


class Folder:
    """Feeds decoded events into a book; the edge shared by replay and the worker."""

    def __init__(self, book: Book, as_of: datetime | None = None) -> None:
        self.book = book
        self.as_of = as_of
        self.stats = FoldStats()
        self.tickets: list[Any] = []
        # probes in this epoch minute or later may lie after as_of: check exactly
        self._as_of_minute = epoch_minute(as_of) if as_of is not None else 1 << 62
        self._minutes: dict[str, int] = {}
        #: ledgers that received probes since the caller last cleared this set
        self.touched: set[ProbeLedger] = set()
        #: when set, non-probe events go here (raw bytes, model) instead of the book
        self.forward: Callable[[bytes, Any], None] | None = None
        self._sinks: dict[tuple[str, str, int], tuple[Callable[[int], None], ProbeLedger]] = {}

    def ingest(self, raw: bytes, source: dict[str, Any]) -> DeadLetter | None:
        """Decode and fold one raw event; return its dead letter when it is bad input."""
        ev = decode_edge(raw)
        if type(ev) is tuple:
            rec, minute = ev
            events = self.stats.events
            events["probe"] = events.get("probe", 0) + 1
            if minute >= self._as_of_minute and self._later_than_as_of(rec["observed_at"]):
                self.stats.not_yet_known += 1
                return None
            self.book.add_probe_minute(
                rec["service"], rec["region"], minute, rec["ok"], rec["event_id"]
            )
            return None
        if isinstance(ev, Rejected):
            return self.reject(ev, source)
        self.fold(ev)
        return None

    def ingest_batch(self, raws: list[bytes], sources: list[dict[str, Any]]) -> list[DeadLetter]:
        """Decode and fold many raw events at once (the hot path); return the dead letters.

        Same results as calling :meth:`ingest` on each line, several times faster:
        one validator call for the batch, and probes folded with the minute read
        from a per-minute cache of timestamp prefixes.
        """
        dead: list[DeadLetter] = []
        book = self.book
        minutes = self._minutes
        sinks = self._sinks
        touched: set[ProbeLedger] = set()
        probes = 0
        as_of_minute = self._as_of_minute
        for raw, source, ev in zip(raws, sources, validate_batch(raws), strict=True):
            if type(ev) is dict:
                text = ev["observed_at"]
                prefix = text[:16] if text[-1] == "Z" else text[:16] + text[-6:]
                minute = minutes.get(prefix)
                if minute is None or text[17] > "5":
                    try:
                        minute = probe_minute(text)
                    except ValueError:
                        slow = self.ingest(raw, source)
                        if slow is not None:
                            dead.append(slow)
                        continue
                    if len(minutes) > 1_000_000:
                        minutes.clear()
                    minutes[prefix] = minute
                probes += 1
                if minute >= as_of_minute and self._later_than_as_of(text):
                    self.stats.not_yet_known += 1
                    continue
                skey = (ev["service"], ev["region"], minute // 1440)
                sink = sinks.get(skey)
                if sink is None:
                    led = book.ledger_for(ev["service"], minute)
                    sink = sinks[skey] = (led.pending_sink(ev["region"]).append, led)
                    touched.add(led)
                append, led = sink
                if led not in touched:
                    touched.add(led)
                digest = int.from_bytes(ev["event_id"].encode(), "little") % DIGEST_PRIME
                append(((minute - led.first_minute) << 48) | (digest << 1) | ev["ok"])
            elif isinstance(ev, Rejected):
                dead.append(self.reject(ev, source))
            else:
                self.fold(ev, raw)
        for led in touched:
            led.sync()
        self.touched |= touched
        events = self.stats.events
        events["probe"] = events.get("probe", 0) + probes
        return dead

    def _later_than_as_of(self, text: str) -> bool:
        return self.as_of is not None and parse_instant(text) > self.as_of

    def fold(self, event: Any, raw: bytes | None = None) -> None:
        """Fold one decoded event model (any type of :data:`schemas.events.Event`)."""
        kind: str = event.type
        events = self.stats.events
        events[kind] = events.get(kind, 0) + 1
        if self.forward is not None and not isinstance(event, ProbeEvent):
            self.forward(raw if raw is not None else event.model_dump_json().encode(), event)
            return
        if isinstance(event, ProbeEvent):
            if self.as_of is not None and event.observed_at > self.as_of:
                self.stats.not_yet_known += 1
                return
            self.book.add_probe(
                event.service, event.region, event.observed_at, event.ok, event.event_id
            )
            self.touched.add(self.book.ledger_for(event.service, epoch_minute(event.observed_at)))
        elif isinstance(event, IncidentEvent):
            self.book.add_incident(domain.incident_version(event))
        elif isinstance(event, ContractEvent):
            self.book.add_contract(domain.contract(event))
        elif isinstance(event, ClaimEvent):
            self.book.add_claim(domain.claim(event))
        else:
            self.tickets.append(event)

    def reject(self, rej: Rejected, source: dict[str, Any]) -> DeadLetter:
        self.stats.dead_letters[rej.reason] = self.stats.dead_letters.get(rej.reason, 0) + 1
        return DeadLetter(rej.reason, rej.detail, rej.raw, source)


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
    """Fold numbered lines and compute every output as of ``as_of``."""
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
    outputs.extend(all_claim_decisions(book, as_of))
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


def support_outputs(tickets: list[Any], as_of: datetime, calendar: BusinessCalendar) -> list[JSON]:
    """``ticket_verdict``, then ``ticket_alert``, then ``support_month`` lines (SPEC section 8).

    Alerts: one per ticket and moment that has passed by ``as_of`` without a
    first response (:func:`sla.support.ticket_alerts`), tickets in id order,
    ``at_risk`` before ``breached``.
    """
    if not tickets:
        return []
    verdicts = support.fold_ticket_events(_ticket_events(tickets), as_of, calendar)
    out: list[JSON] = []
    for v in verdicts.values():
        out.append(
            {
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
        )
    for v in verdicts.values():
        for alert in support.ticket_alerts(v):
            out.append(
                {
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
            )
    for row in support.monthly_compliance(verdicts.values(), calendar):
        out.append(
            {
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
        )
    return out


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


def dumps(obj: JSON) -> str:
    """The canonical JSON text of an output (stable key order, no spaces)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


__all__ = [
    "DeadLetter",
    "Folder",
    "ReplayResult",
    "compute_outputs",
    "dumps",
    "format_instant",
    "iter_lines",
    "next_support_moment",
    "replay_lines",
]
