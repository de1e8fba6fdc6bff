"""A realistic, reproducible event stream for one or more months.

Probes every ``interval`` seconds from each region (with jitter), outages of
realistic shape (full, regional, flapping), incidents with revisions (one
reclassified to ``aws`` after the month is final, one retracted, a
force-majeure event, a declared outage during a monitoring gap), contracts,
claims, late and duplicate events and a fraction of malformed lines. The
same seed always gives the same bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sla.model import JSON
from sla.months import Month, month_bounds
from sla.timeutil import format_instant, minute_start

DEFAULT_REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")
MALFORMED = (
    b'{"type":"probe","event_id":"bad-1","service":"api","region":"eu-west-1",'
    b'"observed_at":"2026-03-05T10:00:00","ok":true}',
    b'{"type":"probe","event_id":"bad-2","service":"api","region":"eu-west-1",'
    b'"observed_at":"2026-03-05T10:00:00Z","ok":"no"}',
    b'{"type":"incident","event_id":"bad-3","incident_id":"x","revision":-1,'
    b'"services":["api"],"started_at":"2026-03-05T10:00:00Z","cause":"aws","impact":"outage"}',
    b'{"type":"incident","event_id":"bad-4","incident_id":"x","revision":0,'
    b'"services":["api"],"started_at":"2026-03-05T10:00:00Z","cause":"aliens","impact":"outage"}',
    b'{"type":"probe","event_id":"bad-5"',
    b'{"type":"heartbeat","event_id":"bad-6"}',
)


@dataclass
class Scenario:
    """What to simulate."""

    month: Month = field(default_factory=lambda: Month(2026, 3))
    months: int = 1
    services: tuple[str, ...] = ("api", "web", "worker")
    regions: tuple[str, ...] = DEFAULT_REGIONS
    interval_seconds: int = 60
    seed: int = 7
    duplicate_rate: float = 0.01
    malformed_rate: float = 0.001
    with_contracts: bool = True
    with_claims: bool = True
    with_tickets: bool = True
    #: probe only the first this-many days of each month (None: the whole month)
    probe_days: int | None = None


def _ts(dt: datetime) -> str:
    return format_instant(dt)


class _Gen:
    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.rng = random.Random(sc.seed)
        self.seq = 0

    def eid(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}-{self.sc.seed}-{self.seq:09d}"


def _outages(gen: _Gen, service: str, first: int, end: int) -> list[tuple[int, int, str]]:
    """(start minute, end minute, shape) of probe-visible trouble in ``[first, end)``."""
    rng = gen.rng
    out = []
    days = (end - first) // 1440
    for _ in range(rng.randint(1, 3)):  # full outages of a few minutes
        s = first + rng.randrange(0, days * 1440 - 60)
        out.append((s, s + rng.choice((3, 7, 12, 18, 25)), "full"))
    for _ in range(rng.randint(1, 2)):  # one region degraded: quorum keeps it up
        s = first + rng.randrange(0, days * 1440 - 60)
        out.append((s, s + rng.randint(5, 40), "regional"))
    s = first + rng.randrange(0, days * 1440 - 60)  # flapping: half the probes fail
    out.append((s, s + rng.randint(4, 15), "flap"))
    del service
    return out


def events(sc: Scenario) -> Iterator[JSON | bytes]:
    """The scenario's events in a realistic arrival order (malformed ones as bytes)."""
    gen = _Gen(sc)
    rng = gen.rng
    month = sc.month
    late: list[JSON] = []
    for _ in range(sc.months):
        first, end = month_bounds(month)
        month_start = minute_start(first)
        plan = _plan(sc, gen, first, end)
        probe_end = end if sc.probe_days is None else min(end, first + sc.probe_days * 1440)
        for minute in range(first, probe_end):
            for service in sc.services:
                in_gap = service == sc.services[-1] and plan.gap[0] <= minute < plan.gap[1]
                if in_gap:
                    continue
                shapes = [shape for (a, b, shape) in plan.outages[service] if a <= minute < b]
                yield from _probes(sc, gen, service, minute, shapes, late)
            if minute == first + 5:
                yield from _incidents_open(sc, month, month_start)
        yield from _incidents(sc, gen, month, first, end, plan)
        month = month.next()
    rng.shuffle(late)
    yield from late
    if sc.with_claims:
        yield from _claims(sc, gen)
    if sc.with_tickets:
        yield from _tickets(sc, gen)


@dataclass(frozen=True)
class _Plan:
    """One month's trouble, as minutes: outages per service, two incidents, a probe gap."""

    outages: dict[str, list[tuple[int, int, str]]]
    aws: tuple[int, int]
    fm: tuple[int, int]
    gap: tuple[int, int]


def _plan(sc: Scenario, gen: _Gen, first: int, end: int) -> _Plan:
    """Draw the month ``[first, end)``'s trouble (the random draws in the stream's order)."""
    rng = gen.rng
    gap = (first + rng.randrange(1440, (end - first) - 1440), 0)
    gap = (gap[0], gap[0] + rng.randint(20, 50))
    plans = {s: _outages(gen, s, first, end) for s in sc.services}
    # an AWS outage on the first service, first reported as internal
    aws_s = first + rng.randrange(2 * 1440, (end - first) - 2 * 1440)
    aws_e = aws_s + rng.randint(30, 90)
    plans[sc.services[0]].append((aws_s, aws_e, "full"))
    fm_s = first + rng.randrange(2 * 1440, (end - first) - 2 * 1440)
    fm_e = fm_s + rng.randint(10, 20)
    plans[sc.services[-1]].append((fm_s, fm_e, "full"))
    return _Plan(plans, (aws_s, aws_e), (fm_s, fm_e), gap)


def _probes(
    sc: Scenario, gen: _Gen, service: str, minute: int, shapes: list[str], late: list[JSON]
) -> Iterator[JSON | bytes]:
    """``service``'s probes of one minute from every region; duplicates to send go to ``late``."""
    rng = gen.rng
    for ri, region in enumerate(sc.regions):
        for k in range(max(1, 60 // sc.interval_seconds)):
            offset = k * sc.interval_seconds + rng.uniform(0, 5)
            at = minute_start(minute) + timedelta(seconds=offset)
            ok = True
            if "full" in shapes or ("regional" in shapes and ri == 0):
                ok = False
            elif "flap" in shapes:
                ok = rng.random() < 0.5
            ev: JSON = {
                "type": "probe",
                "event_id": gen.eid("p"),
                "service": service,
                "region": region,
                "observed_at": _ts(at),
                "ok": ok,
                "latency_ms": round(rng.uniform(20, 400) if ok else 10000.0, 1),
            }
            if not ok:
                ev["status_code"] = 503
            yield ev
            r = rng.random()
            if r < sc.duplicate_rate:
                late.append(ev)
            elif r < sc.duplicate_rate + sc.malformed_rate:
                yield MALFORMED[rng.randrange(len(MALFORMED))]


def _incidents_open(sc: Scenario, month: Month, month_start: datetime) -> Iterator[JSON]:
    if sc.with_contracts and month == sc.month:
        yield {
            "type": "contract",
            "event_id": "contract-PO-1001-r0",
            "contract_id": "PO-1001",
            "client_id": "acme",
            "revision": 0,
            "services": [
                {"service": s, "monthly_charge": f"{1250 + 250 * i}.00"}
                for i, s in enumerate(sc.services)
            ],
            "currency": "GBP",
            "timezone": "Europe/London",
        }
        yield {
            "type": "contract",
            "event_id": "contract-PO-2002-r0",
            "contract_id": "PO-2002",
            "client_id": "globex",
            "revision": 0,
            "services": [{"service": sc.services[0], "monthly_charge": "4999.99"}],
            "currency": "USD",
            "credit_basis": "per_service",
            "effective_from": _ts(month_start + timedelta(days=9, hours=12)),
        }


def _incidents(
    sc: Scenario, gen: _Gen, month: Month, first: int, end: int, plan: _Plan
) -> Iterator[JSON]:
    tag = str(month)
    base = {"type": "incident", "cause": "internal", "impact": "outage"}
    yield from _aws_incident(sc, gen, tag, base, plan.aws, end)
    fm_s, fm_e = plan.fm
    gap = plan.gap
    yield {
        **base,
        "event_id": gen.eid("i"),
        "incident_id": f"INC-{tag}-fm",
        "revision": 0,
        "services": [sc.services[-1]],
        "started_at": _ts(minute_start(fm_s)),
        "ended_at": _ts(minute_start(fm_e)),
        "cause": "force_majeure",
        "status": "resolved",
        "title": "Regional power grid failure",
    }
    yield {
        **base,
        "event_id": gen.eid("i"),
        "incident_id": f"INC-{tag}-gap",
        "revision": 0,
        "services": [sc.services[-1]],
        "started_at": _ts(minute_start(gap[0] + 5) + timedelta(seconds=40)),
        "ended_at": _ts(minute_start(gap[0] + 15) + timedelta(seconds=10)),
        "status": "resolved",
        "title": "Queue workers stalled (monitoring also down)",
    }
    blip = first + 3 * 1440 + 600
    retracted = {
        **base,
        "incident_id": f"INC-{tag}-false-alarm",
        "services": [sc.services[1 % len(sc.services)]],
        "started_at": _ts(minute_start(blip)),
        "ended_at": _ts(minute_start(blip + 30)),
    }
    yield {**retracted, "event_id": gen.eid("i"), "revision": 0, "status": "resolved"}
    yield {**retracted, "event_id": gen.eid("i"), "revision": 1, "status": "retracted"}


def _aws_incident(
    sc: Scenario, gen: _Gen, tag: str, base: dict[str, str], span: tuple[int, int], end: int
) -> Iterator[JSON]:
    """The AWS outage's three revisions: open, resolved, and reclassified after finality."""
    aws_s, aws_e = span
    aws = {
        **base,
        "incident_id": f"INC-{tag}-aws",
        "services": [sc.services[0]],
        "started_at": _ts(minute_start(aws_s)),
        "ended_at": _ts(minute_start(aws_e)),
        "title": "Elevated error rates",
    }
    yield {
        **aws,
        "event_id": gen.eid("i"),
        "revision": 0,
        "status": "open",
        "ended_at": None,
        "recorded_at": _ts(minute_start(aws_s + 4)),
    }
    yield {
        **aws,
        "event_id": gen.eid("i"),
        "revision": 1,
        "status": "resolved",
        "recorded_at": _ts(minute_start(aws_e + 10)),
    }
    # root cause found after the month is final: reclassified to AWS
    yield {
        **aws,
        "event_id": gen.eid("i"),
        "revision": 2,
        "status": "resolved",
        "cause": "aws",
        "title": "AWS us-east-1 EC2 degradation",
        "recorded_at": _ts(minute_start(end) + timedelta(days=5)),
    }


def _claims(sc: Scenario, gen: _Gen) -> Iterator[JSON]:
    first, end = month_bounds(sc.month)
    start = minute_start(first)
    intervals = [{"start": _ts(start), "end": _ts(minute_start(end))}]
    submitted = minute_start(end) + timedelta(days=10)
    yield {
        "type": "claim",
        "event_id": gen.eid("c"),
        "claim_id": "CLM-1",
        "contract_id": "PO-1001",
        "submitted_at": _ts(submitted),
        "subject": "SLA Credit Request",
        "incidents": intervals,
        "contact": "ops@acme.example",
    }
    yield {
        "type": "claim",
        "event_id": gen.eid("c"),
        "claim_id": "CLM-2",
        "contract_id": "PO-1001",
        "submitted_at": _ts(submitted),
        "subject": "Refund please",
        "incidents": intervals,
    }
    yield {
        "type": "claim",
        "event_id": gen.eid("c"),
        "claim_id": "CLM-3",
        "contract_id": "PO-2002",
        "submitted_at": _ts(minute_start(end) + timedelta(days=75)),
        "subject": " sla credit request ",
        "incidents": intervals,
    }


def _tickets(sc: Scenario, gen: _Gen) -> Iterator[JSON]:
    """A few support tickets a month: met, breached, severity raised, out of hours."""
    rng = gen.rng
    first, end = month_bounds(sc.month)
    for i in range(12):
        opened = minute_start(first + rng.randrange(0, end - first - 1440))
        opened += timedelta(seconds=rng.randrange(60))
        severity = ("low", "medium", "high")[i % 3]
        tid = f"TKT-{sc.month}-{i:03d}"
        yield {
            "type": "ticket_opened",
            "event_id": gen.eid("t"),
            "ticket_id": tid,
            "client_id": "acme" if i % 2 else "globex",
            "opened_at": _ts(opened),
            "severity": severity,
            "channel": ("email", "phone")[i % 2],
        }
        if i % 4 == 1:
            yield {
                "type": "ticket_severity_changed",
                "event_id": gen.eid("t"),
                "ticket_id": tid,
                "changed_at": _ts(opened + timedelta(minutes=20)),
                "severity": "high",
            }
        if i % 5 != 4:
            delay = timedelta(minutes=rng.choice((15, 45, 100, 200, 600, 2000)))
            yield {
                "type": "ticket_responded",
                "event_id": gen.eid("t"),
                "ticket_id": tid,
                "responded_at": _ts(opened + delay),
                "agent": "support-1",
            }
            yield {
                "type": "ticket_resolved",
                "event_id": gen.eid("t"),
                "ticket_id": tid,
                "resolved_at": _ts(opened + delay + timedelta(hours=6)),
            }


def write_jsonl(sc: Scenario, path: str) -> int:
    """Write the scenario to ``path``; return the number of lines."""
    n = 0
    with open(path, "wb") as fh:
        for ev in events(sc):
            fh.write(ev if isinstance(ev, bytes) else json.dumps(ev).encode())
            fh.write(b"\n")
            n += 1
    return n


def default_as_of(sc: Scenario) -> datetime:
    """An ``as_of`` after every simulated month is final and revised."""
    last = sc.month
    for _ in range(sc.months - 1):
        last = last.next()
    _, end = month_bounds(last)
    return minute_start(end) + timedelta(days=10)


__all__ = ["UTC", "Scenario", "default_as_of", "events", "write_jsonl"]
