"""Book-of-business benchmark: how statement cost grows with the number of contracts.

Usage::

    python bench/bench_book.py [--services 10] [--contracts 2,1000,10000]

(a) Replay of one simulated month (``--services`` services x 3 regions x one
probe a minute, with the simulator's outages, incidents, a reclassification
after finality, claims and tickets) with the simulator's two contracts, then
with that many more contracts over the same services under varied terms
(:func:`devkit.simulate.book_contracts`). Each run is a whole replay as
``availability replay --store none`` does it: decode, fold, every output
computed and serialised. Reported: seconds, and the ratio to the first run.

(b) Live, with ``--live-contracts`` contracts (10,000 by default) over the
same services on a real broker (``KAFKA_BOOTSTRAP_SERVERS``, else a local
one): ``--live-workers`` ``availability worker`` processes (one app id, so
they share the statement partitions) on the wall clock, probes for the current
minute produced at ``--live-rate`` a second (every service and region), and
from the first minute that starts ``--live-warmup`` seconds in, one service
made to fail for each whole minute (a failing minute). Reported: the time
from the first failing probe of a failing minute to the first published
statement of a contract using that service that shows the minute as
counted downtime (p50, p99, max, and per failing minute); the event loop's
lag from the worker's ``/health`` (p99 and max over the run); the slowest
``/health`` answers, polled every 0.2 s by a process of its own, on the
workers' ``--health-port`` (the goal's), on their HTTP API, and on a static
HTTP server of the same machine (what its load allows any server); the Kafka
heartbeat sessions the workers' logs say expired or failed while probes flowed (a heartbeat
answered "rebalancing", as when a worker joins the group, is counted
apart); per worker, its statement partitions, the outputs it published and
the CPU seconds it used during the run.

(c) Resident memory per 1,000 contracts: the growth of the resident set of
a fresh process folding the month with the largest book and holding its
outputs, against the same with the simulator's two contracts.

The month file is generated once into ``--workdir`` (default: a temporary
folder) and reused by every run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devkit.localkafka import LocalKafka, free_port
from devkit.simulate import Scenario, book_contracts, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas.codec import dumps_output
from sla.months import Month
from sla.timeutil import epoch_minute, parse_instant
from streams import topics

GOAL_RATIO = 1.5
GOAL_LATENCY_P99 = 5.0
GOAL_LAG_P99 = 0.05
GOAL_LAG_MAX = 0.25
GOAL_HEALTH = 0.1
BIN = Path(sys.executable).parent
AS_OF = datetime(2026, 4, 11, tzinfo=UTC)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def month_file(workdir: Path, services: int) -> Path:
    """The simulated month, written on first use."""
    path = workdir / f"month-{services}.jsonl"
    if not path.exists():
        names = tuple(f"svc-{i:02d}" for i in range(services))
        tmp = path.with_suffix(".tmp")
        write_jsonl(Scenario(services=names, malformed_rate=0.0), str(tmp))
        tmp.rename(path)
    return path


def replay_once(month_lines: list[bytes], extra: int, services: int) -> tuple[float, int, int]:
    """One whole replay with ``extra`` book contracts; (seconds, outputs, bytes out)."""
    names = tuple(f"svc-{i:02d}" for i in range(services))
    contracts = [json.dumps(ev).encode() for ev in book_contracts(extra, names, Month(2026, 3))]
    lines = month_lines + contracts
    gc.collect()
    t0 = time.perf_counter()
    result = replay_lines(iter_lines(lines), AS_OF, source_name="bench")
    size = 0
    for out in result.outputs:
        size += len(dumps_output(out)) + 1
    seconds = time.perf_counter() - t0
    if result.dead_letters:
        raise SystemExit(f"unexpected dead letter: {result.dead_letters[0].detail}")
    return seconds, len(result.outputs), size


def memory_probe(month_path: Path, services: int, contracts: int) -> int:
    """Resident bytes of this process after a replay with ``contracts`` book contracts held."""
    names = tuple(f"svc-{i:02d}" for i in range(services))
    lines = [raw for _, raw in iter_lines(month_path.open("rb"))]
    lines += [json.dumps(ev).encode() for ev in book_contracts(contracts, names, Month(2026, 3))]
    held = replay_lines(iter_lines(lines), AS_OF, source_name="bench")
    del lines
    gc.collect()
    rss = _rss_bytes()
    assert held.outputs
    return rss


def _fresh_rss(month_path: Path, services: int, contracts: int) -> int:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--memory-probe",
            str(contracts),
            "--services",
            str(services),
            "--month-file",
            str(month_path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


# -- (b) live -----------------------------------------------------------------------


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


def _health_body(port: int, timeout: float = 30.0) -> bytes:
    """The worker's ``/health`` answer (a 503, degraded, is an answer too); raises ``OSError``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as r:
            body: bytes = r.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    return body


def _poll_health(port: int) -> None:
    """Poll ``/health`` every 0.2 s until killed; print each answer's seconds, one a line.

    Run in a process of its own (``--poll-health``), as a liveness probe is: a
    thread of the bench's own busy process would time its own waits for the
    interpreter too.
    """
    while True:
        t0 = time.monotonic()
        with suppress(OSError):
            _health_body(port)
        print(f"{time.monotonic() - t0:.4f}", flush=True)
        time.sleep(0.2)


def _start_poller(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--poll-health", str(port)], stdout=subprocess.PIPE
    )


def _stop_poller(proc: subprocess.Popen[bytes]) -> list[float]:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return [float(x) for x in out.split()]


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
        ports, hports, procs, logs = _start_workers(stack, bootstrap, args.live_workers, work)
        control = _start_control(stack, work)
        for port in ports:
            _wait_caught_up(port, timeout=600)
        cpu0 = [_cpu_seconds(proc.pid) for proc in procs]
        log0 = [path.stat().st_size for path in logs]
        published0 = [_published(port) for port in ports]
        markers: list[Marker] = []
        # the API's /health, --health-port's, and the static server's (the machine's floor)
        pollers = [[_start_poller(port) for port in group] for group in (ports, hports, [control])]
        sent = asyncio.run(_live_probes(args, bootstrap, names, book, markers))
        times, htimes, ctimes = ([t for p in group for t in _stop_poller(p)] for group in pollers)
        lasts = [_health(port) for port in ports]
        workers = [
            {
                "partitions": _health(port).get("statement_partitions", []),
                "published": _published(port) - before,
                "cpu_seconds": _cpu_seconds(proc.pid) - cpu,
            }
            for port, proc, before, cpu in zip(ports, procs, published0, cpu0, strict=True)
        ]
        # what the workers logged while probes flowed, not while they joined the groups
        logtext = "".join(
            path.read_bytes()[start:].decode(errors="replace")
            for path, start in zip(logs, log0, strict=True)
        )
    res = _live_result(sent, markers, times, lasts, workers, logtext)
    for key, polled in (("health_port", htimes), ("control", ctimes)):
        res[f"{key}_max"] = max(polled) if polled else float("nan")
        res[f"{key}_polls"] = len(polled)
    return res


def _start_control(stack: ExitStack, work: Path) -> int:
    """A static HTTP server answering ``/health`` from a file, stopped with ``stack``: its port.

    Polled as the workers are, it gives the slowest answer this machine
    allows under the run's load, apart from any worker.
    """
    root = work / "control"
    root.mkdir(exist_ok=True)
    (root / "health").write_text('{"status": "ok"}\n')
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            _health_body(port, timeout=5)
            return port
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _start_workers(
    stack: ExitStack, bootstrap: str, count: int, work: Path
) -> tuple[list[int], list[int], list[subprocess.Popen[bytes]], list[Path]]:
    """``count`` workers of one group, stopped when ``stack`` closes.

    Their API ports, their ``--health-port`` ports, the processes and their logs.
    """
    app_id = f"bench-live-{os.getpid()}"
    ports: list[int] = []
    hports: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    for i in range(count):
        ports.append(free_port())
        hports.append(free_port())
        logs.append(work / f"live-worker-{i}.log")
        proc = subprocess.Popen(
            [
                str(BIN / "availability"),
                "worker",
                "--bootstrap",
                bootstrap,
                "--app-id",
                app_id,
                "--web-port",
                str(ports[-1]),
                "--health-port",
                str(hports[-1]),
                "--store",
                "none",
            ],
            stdout=logs[-1].open("wb"),
            stderr=subprocess.STDOUT,
            cwd=work,
        )
        procs.append(proc)
        stack.callback(_stop, proc)
    return ports, hports, procs, logs


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
        "expired": logtext.count("Heartbeat session expired")
        + logtext.count("Heartbeat failed")
        - rebalancing,
        "rebalancing": rebalancing,
        "workers": workers,
    }


def _health(port: int) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(_health_body(port))
    return found


def _published(port: int) -> int:
    counts = _health(port).get("statements", {}).get("published_by_partition", {})
    return sum(int(n) for n in counts.values())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


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


def _wait_caught_up(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(_health_body(port, timeout=5)).get("caught_up"):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the worker did not catch up in {timeout:.0f} s")


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def main() -> int:
    args = _arguments()
    if args.poll_health is not None:
        _poll_health(args.poll_health)
        return 0
    if args.memory_probe is not None:
        print(memory_probe(args.month_file, args.services, args.memory_probe))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        _replays(args, workdir)
        if args.no_live:
            return 0
        # the workers' logs stay in --workdir when one is given
        res = live(args, workdir)
    _print_live(args, res)
    return 0


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=10)
    p.add_argument(
        "--contracts",
        default="0,1000,10000",
        help="book contracts added to the simulator's two, comma-separated (first is the base)",
    )
    p.add_argument("--workdir", type=Path, default=None, help="where the month file is kept")
    p.add_argument("--live-contracts", type=int, default=10_000)
    p.add_argument("--live-rate", type=int, default=5_000, help="probes a second in (b)")
    p.add_argument("--live-seconds", type=float, default=240.0)
    p.add_argument(
        "--live-warmup",
        type=float,
        default=30.0,
        help="seconds of live probes before the first failing minute (which starts after them)",
    )
    p.add_argument(
        "--live-workers", type=int, default=1, help="workers sharing the statement stage in (b)"
    )
    p.add_argument("--no-live", action="store_true", help="leave out part (b)")
    p.add_argument("--memory-probe", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--poll-health", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--month-file", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args()


def _replays(args: argparse.Namespace, workdir: Path) -> None:
    """Parts (a) and (c): the month replayed beside each book size, and the memory held."""
    sizes = [int(x) for x in args.contracts.split(",")]
    path = month_file(workdir, args.services)
    month_lines = [raw for _, raw in iter_lines(path.open("rb"))]
    print(f"month: {len(month_lines):,} events, {args.services} services x 3 regions")
    base = None
    worst = 0.0
    for extra in sizes:
        seconds, outputs, size = replay_once(month_lines, extra, args.services)
        base = base or seconds
        ratio = seconds / base
        worst = max(worst, ratio)
        print(
            f"(a) replay with {extra + 2:>6,} contracts: {seconds:7.2f} s, "
            f"{outputs:,} outputs ({size / 1e6:.1f} MB), ratio {ratio:.2f}"
        )
    largest = max(sizes)
    if largest > 0:  # (c) needs a book beside the simulator's two contracts
        rss0 = _fresh_rss(path, args.services, 0)
        rss1 = _fresh_rss(path, args.services, largest)
        per = (rss1 - rss0) / largest * 1000
        print(
            f"(c) resident memory: {rss0 / 2**20:.0f} MiB with 2 contracts, "
            f"{rss1 / 2**20:.0f} MiB with {largest + 2:,} (outputs held) "
            f"= {per / 2**20:.2f} MiB per 1,000 contracts"
        )
    verdict = "met" if worst <= GOAL_RATIO else "NOT met"
    print(f"(a) replay ratio {worst:.2f} (goal <= {GOAL_RATIO}): {verdict}")


def _print_live(args: argparse.Namespace, res: dict[str, Any]) -> None:
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


if __name__ == "__main__":
    raise SystemExit(main())
