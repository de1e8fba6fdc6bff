"""Operator commands: incidents declared and changed by people, claims as they arrive.

An incident is a sequence of revisions (SPEC section 2): the highest
``revision`` wins, equal revisions are ordered by ``event_id`` bytes.
Revisions start at 0. Every command here reads the revisions already in the
incidents topic, builds the next one from the latest, and stamps
``recorded_at`` (when the pipeline could first know it, so a change after a
month is final gives a revised statement, SPEC section 6).

- ``declare``: revision 0 of a new incident (refused if the id exists);
- ``update``: any fields changed, the others kept from the latest revision;
- ``reclassify``: only the ``cause`` changes (root cause found: ``aws``);
- ``retract``: ``status: retracted``, so the incident covers no minute.

Two operators changing one incident at the same instant may both pick the
same next revision; SPEC section 2 then lets the larger ``event_id`` win, the
same way everywhere, and the next change supersedes both.

A claim is recorded exactly as it arrived (SPEC section 7), a bad subject or
a late submission included: judging it is the pipeline's job.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from schemas.codec import decode, dumps
from schemas.events import IDENT_MAX_LENGTH, IncidentEvent, R, Revisioned, latest
from sla.model import JSON
from sla.timeutil import format_instant, require_aware
from tools.produce import encode_event


class OperatorError(ValueError):
    """A command that cannot be carried out as asked (unknown incident, bad interval...)."""


def _short_id() -> str:
    return uuid.uuid4().hex[:8]


def event_id_for(prefix: str, ident: str, suffix: str) -> str:
    """``prefix + ident + suffix``, the id hashed when the whole would be too long for an id."""
    base = f"{prefix}{ident}"
    if len(base) + len(suffix) > IDENT_MAX_LENGTH:
        base = f"{prefix}{hashlib.sha256(ident.encode()).hexdigest()[:40]}"
    return base + suffix


def history(values: Iterable[bytes], kind: type[R], ident: Callable[[R], str], key: str) -> list[R]:
    """Every valid ``kind`` event whose ``ident`` is ``key`` among raw values (others skipped)."""
    seen: dict[str, R] = {}
    for raw in values:
        ev = decode(raw)
        if isinstance(ev, kind) and ident(ev) == key:
            seen.setdefault(ev.event_id, ev)
    return list(seen.values())


def incident_history(values: Iterable[bytes], incident_id: str) -> list[IncidentEvent]:
    """Every valid revision of ``incident_id`` among raw event values (others are skipped)."""
    return history(values, IncidentEvent, lambda ev: ev.incident_id, incident_id)


def next_revision(history: Iterable[Revisioned]) -> int:
    """0 for a new incident or contract, else one more than the highest revision recorded."""
    top = latest(history)
    return 0 if top is None else top.revision + 1


def incident_wire(ev: IncidentEvent) -> JSON:
    """The wire form of a validated incident revision (UTC instants, no null extras)."""
    out: JSON = {
        "type": "incident",
        "event_id": ev.event_id,
        "incident_id": ev.incident_id,
        "revision": ev.revision,
        "services": list(ev.services),
        "started_at": format_instant(ev.started_at),
        "ended_at": format_instant(ev.ended_at) if ev.ended_at is not None else None,
        "cause": ev.cause.value,
        "impact": ev.impact.value,
    }
    if ev.status is not None:
        out["status"] = ev.status.value
    if ev.title is not None:
        out["title"] = ev.title
    if ev.recorded_at is not None:
        out["recorded_at"] = format_instant(ev.recorded_at)
    return out


def _finish(ev: JSON) -> JSON:
    try:
        encode_event(ev)
    except ValueError as exc:
        raise OperatorError(f"not a valid incident: {exc}") from exc
    return ev


def declare(
    history: Sequence[IncidentEvent],
    incident_id: str,
    services: Sequence[str],
    started_at: datetime,
    recorded_at: datetime,
    ended_at: datetime | None = None,
    cause: str = "internal",
    impact: str = "outage",
    status: str | None = None,
    title: str | None = None,
) -> JSON:
    """Revision 0 of a new incident; refused when ``incident_id`` already has revisions."""
    top = latest(history)
    if top is not None:
        raise OperatorError(
            f"incident {incident_id} already exists (revision {top.revision}); "
            "use update, reclassify or retract"
        )
    ev: JSON = {
        "type": "incident",
        "event_id": event_id_for("", incident_id, f"-r0-{_short_id()}"),
        "incident_id": incident_id,
        "revision": 0,
        "services": list(services),
        "started_at": format_instant(require_aware(started_at)),
        "ended_at": format_instant(require_aware(ended_at)) if ended_at is not None else None,
        "cause": cause,
        "impact": impact,
        "status": status or ("open" if ended_at is None else "resolved"),
        "recorded_at": format_instant(require_aware(recorded_at)),
    }
    if title is not None:
        ev["title"] = title
    return _finish(ev)


#: Sentinel for "leave this field as the latest revision has it".
KEEP: Any = object()


def revise(
    history: Sequence[IncidentEvent],
    incident_id: str,
    recorded_at: datetime,
    *,
    services: Sequence[str] | None = None,
    started_at: datetime | None = None,
    ended_at: datetime | None = KEEP,
    cause: str | None = None,
    impact: str | None = None,
    status: str | None = None,
    title: str | None = None,
) -> JSON:
    """The next revision of ``incident_id``: the given fields changed, the rest kept.

    ``ended_at=None`` reopens the incident (status ``open`` unless given);
    giving an end to an open incident resolves it (status ``resolved`` unless
    given).
    """
    top = latest(history)
    if top is None:
        raise OperatorError(f"no incident {incident_id} in the incidents topic; declare it first")
    rev = top.revision + 1
    ev = incident_wire(top)
    ev["event_id"] = event_id_for("", incident_id, f"-r{rev}-{_short_id()}")
    ev["revision"] = rev
    ev["recorded_at"] = format_instant(require_aware(recorded_at))
    if services is not None:
        ev["services"] = list(services)
    if started_at is not None:
        ev["started_at"] = format_instant(require_aware(started_at))
    if ended_at is not KEEP:
        if ended_at is None:
            ev["ended_at"] = None
            if status is None and ev.get("status") != "retracted":
                status = "open"
        else:
            ev["ended_at"] = format_instant(require_aware(ended_at))
            if status is None and ev.get("status") in (None, "open"):
                status = "resolved"
    if cause is not None:
        ev["cause"] = cause
    if impact is not None:
        ev["impact"] = impact
    if status is not None:
        ev["status"] = status
    if title is not None:
        ev["title"] = title
    return _finish(ev)


def reclassify(
    history: Sequence[IncidentEvent], incident_id: str, cause: str, recorded_at: datetime
) -> JSON:
    """The next revision with only ``cause`` changed."""
    return revise(history, incident_id, recorded_at, cause=cause)


def retract(history: Sequence[IncidentEvent], incident_id: str, recorded_at: datetime) -> JSON:
    """The next revision with ``status: retracted`` (it then covers no minute)."""
    return revise(history, incident_id, recorded_at, status="retracted")


def new_incident_id(now: datetime) -> str:
    return f"INC-{require_aware(now):%Y%m%d-%H%M%S}-{_short_id()[:4]}"


def parse_interval(text: str) -> tuple[str, str]:
    """``START/END`` (RFC 3339 instants) as given, checked to parse."""
    from sla.timeutil import parse_instant

    start, sep, end = text.partition("/")
    if not sep:
        raise OperatorError(f"an interval is START/END, got {text!r}")
    try:
        parse_instant(start.strip())
        parse_instant(end.strip())
    except ValueError as exc:
        raise OperatorError(f"interval {text!r}: {exc}") from exc
    return start.strip(), end.strip()


def claim(
    claim_id: str,
    contract_id: str,
    submitted_at: datetime,
    subject: str,
    intervals: Sequence[tuple[str, str]],
    contact: str | None = None,
    notes: str | None = None,
) -> JSON:
    """A claim event as received (SPEC sections 2 and 7).

    Its ``event_id`` derives from ``claim_id``, so recording the same email
    twice counts once.
    """
    ev: JSON = {
        "type": "claim",
        "event_id": event_id_for("claim:", claim_id, ""),
        "claim_id": claim_id,
        "contract_id": contract_id,
        "submitted_at": format_instant(require_aware(submitted_at)),
        "subject": subject,
        "incidents": [{"start": s, "end": e} for s, e in intervals],
    }
    if contact is not None:
        ev["contact"] = contact
    if notes is not None:
        ev["notes"] = notes
    try:
        encode_event(ev)
    except ValueError as exc:
        raise OperatorError(f"not a valid claim: {exc}") from exc
    return ev


def new_claim_id(submitted_at: datetime) -> str:
    return f"CLM-{require_aware(submitted_at):%Y%m%d-%H%M%S}-{_short_id()[:4]}"


__all__ = [
    "KEEP",
    "OperatorError",
    "claim",
    "declare",
    "dumps",
    "event_id_for",
    "history",
    "incident_history",
    "incident_wire",
    "latest",
    "new_claim_id",
    "new_incident_id",
    "next_revision",
    "parse_interval",
    "reclassify",
    "retract",
    "revise",
]
