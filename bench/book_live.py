"""Part (b) of ``bench/bench_book.py``: a book of contracts on live workers.

The workers (``availability worker`` processes of one app id, sharing the
statement partitions) run on a real broker on the wall clock; probes for the
current minute are produced at a fixed rate, one service failing for each
whole minute, and the time until each contract's published statement shows
the failing minute is measured, with the workers' event-loop lag, their
``/health`` answers (polled by processes of their own, see
``book_workers.py``), expired heartbeat sessions and each worker's share.
See ``bench_book.py``'s docstring for what is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from book_workers import (
    cpu_seconds,
    health,
    published,
    start_control,
    start_poller,
    start_scraper,
    start_workers,
    stop_poller,
    stop_scraper,
    wait_caught_up,
)

from devkit.book_of_business import book_contracts
from devkit.localkafka import LocalKafka
from sla.months import Month
from sla.timeutil import epoch_minute, parse_instant
from streams import topics

GOAL_LATENCY_P99 = 5.0
GOAL_LAG_P99 = 0.05
GOAL_LAG_MAX = 0.25
GOAL_HEALTH = 0.1


@dataclass
class Marker:
    """One service failing for one whole minute, and when its first failing probe left."""

    service: str
    minute: int
    sent_at: float
    #: contract ids whose statement must come to show the minute, and when it did
    waiting: set[str]
    seen: dict[str, float]


def _minute_now() -> int:
    return epoch_minute(datetime.now(UTC))


async def _produce_live(
    bootstrap: str,
    services: tuple[str, ...],
    rate: int,
    seconds: float,
    markers: list[Marker],
    affected: dict[str, set[str]],
    warmup: float = 0.0,
) -> int:
    """Probes for the current minute at ``rate``/s; one service fails each whole minute.

    Nothing fails before the first minute that starts ``warmup`` seconds in:
    the worker's first minutes of live probes open the month's ledgers and
    rebuild the whole book once, a start-up cost, not a failing minute's.
    """
    from aiokafka import AIOKafkaProducer

    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await prod.start()
    regions = ("eu-west-1", "us-east-1", "ap-southeast-2")
    pairs = [(s, r) for s in services for r in regions]
    sent = 0
    t0 = time.monotonic()
    first = epoch_minute(datetime.now(UTC) + timedelta(seconds=warmup)) + (1 if warmup else 0)
    try:
        while time.monotonic() - t0 < seconds:
            now = datetime.now(UTC)
            minute = epoch_minute(now)
            failing = services[minute % len(services)] if minute >= first else None
            if failing is not None and (not markers or markers[-1].minute != minute):
                markers.append(
                    Marker(failing, minute, time.monotonic(), set(affected[failing]), {})
                )
            s, r = pairs[sent % len(pairs)]
            ev = {
                "type": "probe",
                "event_id": f"live-{os.getpid()}-{sent}",
                "service": s,
                "region": r,
                "observed_at": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "ok": s != failing,
            }
            await prod.send(topics.PROBES.name, value=json.dumps(ev).encode(), key=s.encode())
            sent += 1
            pause = t0 + sent / rate - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        await prod.flush()
    finally:
        await prod.stop()
    return sent


def _shows(statement: dict[str, Any], service: str, minute: int) -> bool:
    for period in statement.get("downtime_incidents", ()):
        if period["service"] == service:
            a = epoch_minute(parse_instant(period["start"]))
            b = epoch_minute(parse_instant(period["end"]))
            if a <= minute < b:
                return True
    return False


async def _watch_statements(bootstrap: str, markers: list[Marker], stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await cons.start()
    try:
        tps = [
            TopicPartition(topics.STATEMENTS.name, p) for p in range(topics.STATEMENTS.partitions)
        ]
        cons.assign(tps)
        await cons.seek_to_end(*tps)
        while not stop.is_set():
            batch = await cons.getmany(timeout_ms=200, max_records=5000)
            now = time.monotonic()
            open_markers = [m for m in markers if m.waiting]
            if not open_markers:
                continue
            for msgs in batch.values():
                for msg in msgs:
                    cid = (msg.key or b"").split(b"|", 1)[0].decode()
                    hits = [m for m in open_markers if cid in m.waiting]
                    if not hits:
                        continue
                    st = json.loads(msg.value or b"{}")
                    if st.get("kind") != "contract_month":
                        continue
                    for m in hits:
                        if _shows(st, m.service, m.minute):
                            m.waiting.discard(cid)
                            m.seen[cid] = now - m.sent_at
    finally:
        await cons.stop()


def _affected(book: list[dict[str, Any]], services: tuple[str, ...]) -> dict[str, set[str]]:
    """Per service, the contracts in force now that use it (their statements must show it)."""
    now = datetime.now(UTC)
    latest: dict[str, dict[str, Any]] = {}
    for ev in book:
        held = latest.get(ev["contract_id"])
        if held is None or ev["revision"] > held["revision"]:
            latest[ev["contract_id"]] = ev
    out: dict[str, set[str]] = {s: set() for s in services}
    for cid, ev in latest.items():
        start = ev.get("effective_from")
        if start is not None and parse_instant(start) > now - timedelta(minutes=1):
            continue
        for s in ev["services"]:
            out[s["service"]].add(cid)
    return out


def live(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part (b); see the module docstring."""
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            bootstrap = stack.enter_context(LocalKafka(heap="1g")).bootstrap_servers
        topics.ensure_topics(bootstrap)
        names = tuple(f"svc-{i:02d}" for i in range(args.services))
        month = Month(datetime.now(UTC).year, datetime.now(UTC).month)
        book = list(book_contracts(args.live_contracts, names, month, prefix="PO-L"))
        asyncio.run(_send_contracts(bootstrap, book))
        ports, hports, procs, logs = start_workers(stack, bootstrap, args.live_workers, work)
        control = start_control(stack, work)
        for port in ports:
            wait_caught_up(port, timeout=600)
        cpu0 = [cpu_seconds(proc.pid) for proc in procs]
        log0 = [path.stat().st_size for path in logs]
        published0 = [published(port) for port in ports]
        markers: list[Marker] = []
        # the API's /health, --health-port's, and the static server's (the machine's floor)
        pollers = [[start_poller(port) for port in group] for group in (ports, hports, [control])]
        every = args.live_scrape_interval
        scrapers = [start_scraper(port, every) for port in ports] if every > 0 else []
        sent = asyncio.run(_live_probes(args, bootstrap, names, book, markers))
        times, htimes, ctimes = ([t for p in group for t in stop_poller(p)] for group in pollers)
        scrapes = [scrape for proc in scrapers for scrape in stop_scraper(proc)]
        lasts = [health(port) for port in ports]
        workers = [
            {
                "partitions": health(port).get("statement_partitions", []),
                "published": published(port) - before,
                "cpu_seconds": cpu_seconds(proc.pid) - cpu,
            }
            for port, proc, before, cpu in zip(ports, procs, published0, cpu0, strict=True)
        ]
        # what the workers logged while probes flowed, not while they joined the groups
        logtext = "".join(
            path.read_bytes()[start:].decode(errors="replace")
            for path, start in zip(logs, log0, strict=True)
        )
    res = _live_result(sent, markers, times, lasts, workers, logtext)
    res["scrapes"] = scrapes
    for key, polled in (("health_port", htimes), ("control", ctimes)):
        res[f"{key}_max"] = max(polled) if polled else float("nan")
        res[f"{key}_polls"] = len(polled)
    return res


async def _live_probes(
    args: argparse.Namespace,
    bootstrap: str,
    names: tuple[str, ...],
    book: list[dict[str, Any]],
    markers: list[Marker],
) -> int:
    """Produce the live probes while watching the statements; how many probes were sent."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_statements(bootstrap, markers, stop))
    sent = await _produce_live(
        bootstrap,
        names,
        args.live_rate,
        args.live_seconds,
        markers,
        _affected(book, names),
        args.live_warmup,
    )
    deadline = time.monotonic() + 60
    while any(m.waiting for m in markers) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    stop.set()
    await watcher
    return sent


def _live_result(
    sent: int,
    markers: list[Marker],
    times: list[float],
    lasts: list[dict[str, Any]],
    workers: list[dict[str, Any]],
    logtext: str,
) -> dict[str, Any]:
    """Part (b)'s figures, from what the run measured."""
    lats = sorted(v for m in markers for v in m.seen.values())
    per_marker = [
        (m.service, sorted(m.seen.values()), len(m.waiting)) for m in markers if m.seen or m.waiting
    ]
    missing = sum(len(m.waiting) for m in markers)
    rebalancing = sum(
        1
        for line in logtext.splitlines()
        if "Heartbeat failed" in line and "because it is rebalancing" in line
    )
    loops = [last.get("event_loop", {}) for last in lasts]
    delays = [last.get("statements", {}).get("delay", {}) for last in lasts]
    return {
        "sent": sent,
        "markers": len(markers),
        "latencies": lats,
        "per_marker": per_marker,
        "missing": missing,
        "health_max": max(times) if times else float("nan"),
        "health_polls": len(times),
        "loop": {
            k: max((lp.get(k, float("nan")) for lp in loops), default=float("nan"))
            for k in ("p99_seconds", "max_seconds", "max_since_start_seconds")
        },
        # the workers' own measure (availability_statement_delay_seconds), to set
        # beside the latency seen from outside
        "delay": {
            k: max((d.get(k, float("nan")) for d in delays), default=float("nan"))
            for k in ("p99_seconds", "max_seconds", "max_since_start_seconds")
        },
        "expired": logtext.count("Heartbeat session expired")
        + logtext.count("Heartbeat failed")
        - rebalancing,
        "rebalancing": rebalancing,
        "workers": workers,
    }


async def _send_contracts(bootstrap: str, book: list[dict[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer

    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    await prod.start()
    try:
        for ev in book:
            await prod.send(
                topics.CONTRACTS.name, value=json.dumps(ev).encode(), key=ev["contract_id"].encode()
            )
        await prod.flush()
    finally:
        await prod.stop()


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def print_live(args: argparse.Namespace, res: dict[str, Any]) -> None:
    """Part (b)'s report."""
    lats = res["latencies"]
    p99 = _pct(lats, 0.99)
    loop = res["loop"]
    print(
        f"(b) live: {args.live_contracts:,} contracts, {res['sent']:,} probes at "
        f"{args.live_rate:,}/s over {args.live_seconds:.0f} s, {res['markers']} failing minutes"
    )
    print(
        f"(b) probe -> updated statement: p50 {_pct(lats, 0.5):.2f} s, p99 {p99:.2f} s, "
        f"max {lats[-1] if lats else float('nan'):.2f} s over {len(lats):,} statements "
        f"({res['missing']} never updated) (goal p99 <= {GOAL_LATENCY_P99} s)"
    )
    for service, seen, waiting in res["per_marker"]:
        print(
            f"(b)   failing minute of {service}: {len(seen):,} statements, first "
            f"{seen[0] if seen else float('nan'):.2f} s, p50 {_pct(seen, 0.5):.2f} s, "
            f"last {seen[-1] if seen else float('nan'):.2f} s, {waiting} never updated"
        )
    print(
        f"(b) event-loop lag over the last minute: p99 {loop.get('p99_seconds', float('nan'))} s, "
        f"max {loop.get('max_seconds', float('nan'))} s; max since start "
        f"{loop.get('max_since_start_seconds', float('nan'))} s "
        f"(goals p99 <= {GOAL_LAG_P99} s, max <= {GOAL_LAG_MAX} s)"
    )
    scrapes = res["scrapes"]
    if args.live_scrape_interval > 0:
        print(
            f"(b) /metrics scraped every {args.live_scrape_interval:.0f} s as Prometheus does: "
            f"{len(scrapes)} scrapes ({sum(n < 0 for _, n in scrapes)} failed), slowest "
            f"{max((t for t, _ in scrapes), default=float('nan')):.2f} s, largest "
            f"{max((n for _, n in scrapes), default=0) / 1e6:.1f} MB"
        )
    delay = res["delay"]
    print(
        f"(b) the workers' statement delay (inputs folded -> statements published, "
        f"/health statements.delay): p99 over the last minute {delay.get('p99_seconds')} s, "
        f"max since start {delay.get('max_since_start_seconds')} s"
    )
    print(
        f"(b) slowest /health: on --health-port {res['health_port_max'] * 1000:.0f} ms of "
        f"{res['health_port_polls']:,} (goal <= {GOAL_HEALTH * 1000:.0f} ms); on the HTTP API "
        f"{res['health_max'] * 1000:.0f} ms of {res['health_polls']:,}; a static HTTP server "
        f"on this machine {res['control_max'] * 1000:.0f} ms of {res['control_polls']:,}"
    )
    print(
        f"(b) expired heartbeat sessions: {res['expired']} "
        f"(and {res['rebalancing']} heartbeats answered 'rebalancing')"
    )
    total = sum(w["published"] for w in res["workers"]) or 1
    for i, w in enumerate(res["workers"]):
        print(
            f"(b) worker {i}: statement partitions {w['partitions']}, published "
            f"{w['published']:,} outputs ({w['published'] / total:.0%}), "
            f"{w['cpu_seconds']:.1f} CPU s during the run"
        )
