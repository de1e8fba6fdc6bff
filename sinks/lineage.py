"""Rows that record where input came from: raw events and dead letters (no I/O).

A received event (:class:`RawEvent`) becomes a ``raw_events`` row, a dead
letter (``DeadLetter.to_json()``) a ``dead_letters`` row; both carry the
lineage of their source (a Kafka topic, partition and offset, or a file and
line), whose key makes a redelivered message or a re-read line one row after
merges. Like :mod:`sinks.rows`, the same input always gives the same row.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.codec import dumps
from sinks.rows import Row


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One valid event as received.

    ``source`` is ``{"topic", "partition", "offset"}`` for Kafka or
    ``{"file", "line"}`` for a file (the shape replay uses for dead letters).
    ``received_at`` is the Kafka message timestamp or, without one within the
    instants an event may carry, the reader's clock.
    """

    raw: bytes
    received_at: datetime
    source: Mapping[str, Any]


def _lineage(source: Mapping[str, Any]) -> tuple[str, Row, str]:
    """(kind, (topic, partition, offset, file, line), lineage key) of a source."""
    if "topic" in source:
        topic, part, off = source["topic"], source.get("partition"), source.get("offset")
        cols: Row = (
            str(topic),
            None if part is None else int(part),
            None if off is None else int(off),
            None,
            None,
        )
        return "kafka", cols, f"kafka:{topic}/{part}/{off}"
    if "file" in source:
        file, line = source["file"], source.get("line")
        cols = (None, None, None, str(file), None if line is None else int(line))
        return "file", cols, f"file:{file}:{line}"
    text = dumps(dict(source))
    return "other", (None, None, None, None, None), f"other:{text}"


def raw_event_row(ev: RawEvent) -> Row:
    """The ``raw_events`` row of a received event; id and type come from its JSON."""
    try:
        parsed = json.loads(ev.raw)
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    kind, cols, lineage = _lineage(ev.source)
    return (
        str(parsed.get("event_id", "")),
        str(parsed.get("type", "")),
        ev.raw,
        ev.received_at.astimezone(UTC),
        kind,
        *cols,
        lineage,
    )


def dead_letter_row(dead: Mapping[str, Any]) -> Row:
    """The ``dead_letters`` row of a ``DeadLetter.to_json()`` dict.

    ``raw`` is the raw copy the dead letter carries (its first 256 KiB for a
    larger input); ``raw_size``, ``raw_truncated`` and ``raw_sha256`` describe
    the whole input, and are derived from ``raw`` for a record written before
    dead letters carried them. The id hashes the raw copy and the source, so
    one input read twice is one row after merges.
    """
    raw = base64.b64decode(dead["raw_base64"]) if "raw_base64" in dead else b""
    source = dict(dead.get("source") or {})
    kind, cols, lineage = _lineage(source)
    digest = hashlib.sha256(raw + b"\x00" + lineage.encode()).hexdigest()
    size = int(dead.get("raw_size", len(raw)))
    return (
        digest,
        str(dead["reason"]),
        str(dead.get("detail", "")),
        raw,
        kind,
        dumps(source),
        *cols,
        size,
        bool(dead.get("raw_truncated", size > len(raw))),
        str(dead.get("raw_sha256") or hashlib.sha256(raw).hexdigest()),
    )


__all__ = ["RawEvent", "dead_letter_row", "raw_event_row"]
