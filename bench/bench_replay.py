"""Replay benchmark: decode + validate + fold rate, and state per service-month.

Usage::

    python bench/bench_replay.py [--events 1000000] [--services 8]

Generates a realistic probe stream in memory (the simulator's shape: three
regions, one probe a minute per region, outages, duplicates), then times the
edge the streaming worker and replay share: ``Folder.ingest_batch`` (JSON +
strict validation + the fold into probe ledgers), in batches of ``--batch``
lines (default: the replay's :data:`fold.replay.BATCH`). Statement
computation is timed separately. Single process, so this is one core's rate;
the best of ``--rounds`` rounds is reported. It also builds
one full 31-day service-month at 3 regions x 1 probe/minute and reports its
state size (in memory and serialised).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from datetime import UTC, datetime

from devkit.simulate import Scenario, events
from fold.folder import Folder
from fold.replay import BATCH, compute_outputs
from sla.book import Book
from sla.months import Month
from sla.probes import ProbeLedger

GOAL_RATE = 250_000
GOAL_BYTES = 1 << 20


def _probe_lines(n: int, services: int) -> list[bytes]:
    names = tuple(f"svc-{i:03d}" for i in range(services))
    sc = Scenario(services=names, with_contracts=False, with_claims=False, malformed_rate=0.0)
    out: list[bytes] = []
    for ev in events(sc):
        if isinstance(ev, dict) and ev["type"] == "probe":
            out.append(json.dumps(ev).encode())
            if len(out) >= n:
                break
    return out


def bench_fold(n: int, services: int, rounds: int, batch: int = BATCH) -> dict[str, float]:
    lines = _probe_lines(n, services)
    size = sum(len(x) for x in lines) / len(lines)
    best = float("inf")
    book = Book()
    for _ in range(rounds):
        book = Book()
        folder = Folder(book)
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        for start in range(0, len(lines), batch):
            chunk = lines[start : start + batch]
            dead = folder.ingest_batch(chunk, [{}] * len(chunk))
            if dead:
                raise SystemExit(f"unexpected dead letter: {dead[0].detail}")
        for led in book.ledgers.values():
            if isinstance(led, ProbeLedger):
                led.merge()
        best = min(best, time.perf_counter() - t0)
        gc.enable()
    t0 = time.perf_counter()
    outs = compute_outputs(book, datetime(2026, 4, 10, tzinfo=UTC), [])
    stmt = time.perf_counter() - t0
    return {
        "events": len(lines),
        "avg_event_bytes": size,
        "seconds": best,
        "events_per_second": len(lines) / best,
        "statements": len(outs),
        "statement_seconds": stmt,
    }


def bench_state() -> dict[str, float]:
    """One full 31-day UTC service-month at 3 regions x 1 probe a minute."""
    book = Book()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    from datetime import timedelta

    for minute in range(44_640):
        at = start + timedelta(minutes=minute, seconds=7)
        for region in ("eu-west-1", "us-east-1", "ap-southeast-2"):
            book.add_probe("api", region, at, minute % 97 != 0, f"probe-{region}-{minute:06d}")
    led = book.ledgers[("api", Month(2026, 3))]
    assert isinstance(led, ProbeLedger)
    led.merge()
    return {
        "probes": led.probe_count(),
        "state_bytes_in_memory": led.nbytes(),
        "state_bytes_serialised": len(led.to_bytes()),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--services", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch", type=int, default=BATCH, help="lines per ingest_batch call")
    args = p.parse_args()
    fold = bench_fold(args.events, args.services, args.rounds, args.batch)
    state = bench_state()
    rate = fold["events_per_second"]
    mem = max(state["state_bytes_in_memory"], state["state_bytes_serialised"])
    print(
        f"decode+validate+fold: {fold['events']:,} probe events "
        f"({fold['avg_event_bytes']:.0f} B avg) in {fold['seconds']:.3f} s "
        f"= {rate:,.0f} events/s on one core (goal {GOAL_RATE:,}; batches of {args.batch:,})"
    )
    print(f"statements: {fold['statements']} computed in {fold['statement_seconds']:.3f} s")
    print(
        f"state per 31-day service-month at 3 regions x 1 probe/min: "
        f"{state['probes']:,} probes, {state['state_bytes_in_memory']:,} B in memory, "
        f"{state['state_bytes_serialised']:,} B serialised (goal <= {GOAL_BYTES:,})"
    )
    ok = rate >= GOAL_RATE and mem <= GOAL_BYTES
    print("RESULT: " + ("goals met" if ok else "goals NOT met"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
