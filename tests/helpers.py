"""Builders for test events; every test goes through the real codec and fold."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sla.timeutil import format_instant, parse_instant
from streams.replay import ReplayResult, replay_lines

JSON = dict[str, Any]
_ids = itertools.count()


def eid(prefix: str = "e") -> str:
    return f"{prefix}-{next(_ids)}"


def probe(service: str, region: str, at: str, ok: bool, event_id: str | None = None) -> JSON:
    return {
        "type": "probe",
        "event_id": event_id or eid("p"),
        "service": service,
        "region": region,
        "observed_at": at,
        "ok": ok,
    }


def probes_every_minute(
    service: str, start: str, minutes: int, ok: bool = True, regions: Iterable[str] = ("r1",)
) -> list[JSON]:
    """One probe per region at second 10 of each of ``minutes`` minutes from ``start``."""
    t0 = parse_instant(start)
    out: list[JSON] = []
    for i in range(minutes):
        at = format_instant(t0 + timedelta(minutes=i, seconds=10))
        out.extend(probe(service, r, at, ok) for r in regions)
    return out


def incident(
    incident_id: str,
    services: list[str],
    start: str,
    end: str | None,
    cause: str = "internal",
    impact: str = "outage",
    revision: int = 0,
    **extra: Any,
) -> JSON:
    ev: JSON = {
        "type": "incident",
        "event_id": extra.pop("event_id", eid("i")),
        "incident_id": incident_id,
        "revision": revision,
        "services": services,
        "started_at": start,
        "ended_at": end,
        "cause": cause,
        "impact": impact,
    }
    ev.update(extra)
    return ev


def contract(
    contract_id: str = "PO-1",
    services: dict[str, str] | None = None,
    currency: str = "GBP",
    **extra: Any,
) -> JSON:
    ev: JSON = {
        "type": "contract",
        "event_id": extra.pop("event_id", f"contract-{contract_id}-{extra.get('revision', 0)}"),
        "contract_id": contract_id,
        "client_id": extra.pop("client_id", "client-1"),
        "revision": extra.pop("revision", 0),
        "services": [
            {"service": s, "monthly_charge": c} for s, c in (services or {"api": "1000.00"}).items()
        ],
        "currency": currency,
    }
    ev.update(extra)
    return ev


def claim(
    claim_id: str,
    contract_id: str,
    submitted_at: str,
    intervals: list[tuple[str, str]],
    subject: str = "SLA Credit Request",
) -> JSON:
    return {
        "type": "claim",
        "event_id": eid("c"),
        "claim_id": claim_id,
        "contract_id": contract_id,
        "submitted_at": submitted_at,
        "subject": subject,
        "incidents": [{"start": a, "end": b} for a, b in intervals],
    }


def lines(events: Iterable[JSON | bytes]) -> list[tuple[int, bytes]]:
    return [
        (i, e if isinstance(e, bytes) else json.dumps(e).encode())
        for i, e in enumerate(events, start=1)
    ]


def run(events: Iterable[JSON | bytes], as_of: str) -> ReplayResult:
    """Replay ``events`` (dicts or raw bytes) as of ``as_of``."""
    return replay_lines(lines(events), parse_instant(as_of))


def outputs(events: Iterable[JSON | bytes], as_of: str, kind: str) -> list[JSON]:
    return [o for o in run(events, as_of).outputs if o["kind"] == kind]


def one(events: Iterable[JSON | bytes], as_of: str, kind: str, **match: Any) -> JSON:
    """The single output of ``kind`` whose fields equal ``match``."""
    found = [
        o for o in outputs(events, as_of, kind) if all(o.get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, f"expected one {kind} matching {match}, got {len(found)}"
    return found[0]
