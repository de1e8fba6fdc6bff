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
from typing import Any

from schemas import domain
from schemas.codec import Rejected, decode
from schemas.events import (
    ClaimEvent,
    ContractEvent,
    IncidentEvent,
)
from sla.book import Book, Settings
from sla.claims import all_claim_decisions
from sla.statements import all_statements
from sla.timeutil import format_instant

JSON = dict[str, Any]


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

    def fold(self, event: Any) -> None:
        """Fold one decoded event (any type of :data:`schemas.events.Event`)."""
        kind: str = event.type
        events = self.stats.events
        events[kind] = events.get(kind, 0) + 1
        if kind == "probe":
            if self.as_of is not None and event.observed_at > self.as_of:
                self.stats.not_yet_known += 1
                return
            self.book.add_probe(
                event.service, event.region, event.observed_at, event.ok, event.event_id
            )
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
    for no, raw in lines:
        ev = decode(raw)
        if isinstance(ev, Rejected):
            dl = folder.reject(ev, {"file": source_name, "line": no})
            dead.append(dl)
            if on_dead_letter is not None:
                on_dead_letter(dl)
            continue
        folder.fold(ev)
    outputs = compute_outputs(book, as_of, folder.tickets)
    return ReplayResult(as_of, outputs, dead, folder.stats, book)


def compute_outputs(book: Book, as_of: datetime, tickets: list[Any]) -> list[JSON]:
    """Statements, records and claim decisions as of ``as_of``, in a stable order."""
    outputs = list(all_statements(book, as_of))
    outputs.extend(all_claim_decisions(book, as_of))
    del tickets  # support verdicts are computed by the support module when present
    return outputs


def dumps(obj: JSON) -> str:
    """The canonical JSON text of an output (stable key order, no spaces)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


__all__ = ["DeadLetter", "Folder", "ReplayResult", "dumps", "format_instant", "replay_lines"]
