"""The ``availability`` command line.

Subcommands are thin: they parse arguments, call the core or a sink, and
print. Exit codes: 0 success, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sla.months import Month
from sla.timeutil import format_instant, parse_instant

JSON = dict[str, Any]


def data_dir() -> Path:
    """Where embedded state lives: ``$AVAILABILITY_DATA`` or ``./data``."""
    return Path(os.environ.get("AVAILABILITY_DATA", "data")).resolve()


def default_store() -> str:
    """The embedded ClickHouse (chDB) under the data directory."""
    return f"chdb://{data_dir() / 'clickhouse'}"


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


class _Progress:
    """A one-line progress bar on a terminal; silent when stderr is not a TTY."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = stream.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        pct = min(100, done * 100 // self.total)
        if pct != self.shown:
            self.shown = pct
            bar = "#" * (pct // 4)
            self.stream.write(f"\rreplay [{bar:<25}] {pct:3d}%")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.shown >= 0:
            self.stream.write("\n")


def _numbered(fh: IO[bytes], progress: _Progress) -> Iterator[tuple[int, bytes]]:
    done = 0
    for no, line in enumerate(fh, start=1):
        done += len(line)
        if no % 4096 == 0:
            progress.update(done)
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            yield no, raw
    progress.update(done)
    progress.close()


def _table(outputs: list[JSON]) -> str:
    lines = []
    cm = [o for o in outputs if o["kind"] == "contract_month"]
    if cm:
        lines.append("Contract-month statements")
        head = (
            "contract",
            "month",
            "tz",
            "minutes",
            "counted",
            "excluded",
            "no data",
            "uptime %",
            "target",
            "credit %",
            "credit",
            "status",
        )
        rows: list[tuple[str, ...]] = [head]
        for o in cm:
            rows.append(
                (
                    o["contract_id"],
                    o["month"],
                    o["timezone"],
                    str(o["minutes_in_month"]),
                    str(o["counted_downtime_minutes"]),
                    str(sum(o["excluded_minutes"].values())),
                    str(o["no_data_minutes"]),
                    o["uptime_percent"],
                    "met" if o["meets_target"] else "MISSED",
                    o["credit_percent"],
                    f"{o['credit_amount']} {o['currency']}",
                    f"{o['status']} r{o['revision']}",
                )
            )
        lines.extend(_columns(rows))
    sm = [o for o in outputs if o["kind"] == "service_month"]
    if sm:
        lines.append("")
        lines.append("Service-month records (UTC)")
        rows = [
            (
                "service",
                "month",
                "minutes",
                "down",
                "counted",
                "excluded",
                "no data",
                "uptime %",
                "status",
            )
        ]
        for o in sm:
            rows.append(
                (
                    o["service"],
                    o["month"],
                    str(o["minutes_in_month"]),
                    str(o["down_minutes"]),
                    str(o["counted_downtime_minutes"]),
                    str(sum(o["excluded_minutes"].values())),
                    str(o["no_data_minutes"]),
                    o["uptime_percent"],
                    f"{o['status']} r{o['revision']}",
                )
            )
        lines.extend(_columns(rows))
    cd = [o for o in outputs if o["kind"] == "claim_decision"]
    if cd:
        lines.append("")
        lines.append("Claim decisions")
        rows = [("claim", "contract", "decision", "reason", "minutes", "credit")]
        for o in cd:
            credit = f"{o['credit_total']} {o['currency']}" if o["credit_total"] else "-"
            rows.append(
                (
                    o["claim_id"],
                    o["contract_id"],
                    o["decision"],
                    o["reason"] or "-",
                    str(o["minutes_accepted"]),
                    credit,
                )
            )
        lines.extend(_columns(rows))
    return "\n".join(lines)


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def cmd_replay(args: argparse.Namespace) -> int:
    from sla.book import Book
    from streams.replay import BATCH, DeadLetter, Folder, batched, compute_outputs, dumps

    as_of: datetime = args.as_of or datetime.now(UTC)
    path = Path(args.events)
    try:
        fh = sys.stdin.buffer if args.events == "-" else path.open("rb")
    except OSError as exc:
        print(f"availability replay: cannot read {args.events}: {exc}", file=sys.stderr)
        return 2
    dl_path = Path(args.dead_letters) if args.dead_letters else data_dir() / "dead-letters.jsonl"
    try:
        dl_path.parent.mkdir(parents=True, exist_ok=True)
        dl_file = dl_path.open("w", encoding="utf-8")
    except OSError as exc:
        fh.close()
        print(
            f"availability replay: cannot write the dead letters to {dl_path}: {exc}",
            file=sys.stderr,
        )
        return 2
    total = path.stat().st_size if args.events != "-" else 0
    progress = _Progress(total, sys.stderr)
    book = Book()
    folder = Folder(book, as_of)
    dead: list[DeadLetter] = []
    with fh, dl_file as dl_out:
        for batch in batched(_numbered(fh, progress), BATCH):
            raws = [raw for _, raw in batch]
            sources = [{"file": args.events, "line": no} for no, _ in batch]
            for dl in folder.ingest_batch(raws, sources):
                dead.append(dl)
                print(f"line {dl.source['line']}: {dl.reason}: {dl.detail}", file=sys.stderr)
                dl_out.write(dumps(dl.to_json()) + "\n")
    outputs = compute_outputs(book, as_of, folder.tickets)
    if args.format == "jsonl":
        out = sys.stdout
        for o in outputs:
            out.write(dumps(o) + "\n")
    else:
        print(_table(outputs))
    if args.store != "none":
        from sinks.clickhouse import connect

        store = connect(args.store or default_store())
        try:
            store.migrate()
            store.write_outputs(outputs)
            store.write_dead_letters([d.to_json() for d in dead])
        finally:
            store.close()
    n_events = sum(folder.stats.events.values())
    print(
        f"replayed {n_events} events as of {format_instant(as_of)}: "
        f"{len(outputs)} outputs, {len(dead)} dead letters ({dl_path})",
        file=sys.stderr,
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from streams.simulate import Scenario, default_as_of, write_jsonl

    sc = Scenario(
        month=args.month,
        months=args.months,
        services=tuple(args.services.split(",")),
        seed=args.seed,
        interval_seconds=args.interval,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    n = write_jsonl(sc, args.out)
    print(
        f"wrote {n} lines to {args.out}; suggested --as-of {format_instant(default_as_of(sc))}",
        file=sys.stderr,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulate a month and run it through the live pipeline (or replay it, ``--offline``)."""
    from streams.simulate import Scenario, default_as_of, write_jsonl

    sc = Scenario(month=args.month, probe_days=args.days)
    d = data_dir()
    d.mkdir(parents=True, exist_ok=True)
    events = d / f"demo-{sc.month}.jsonl"
    write_jsonl(sc, str(events))
    as_of = default_as_of(sc)
    if args.offline:
        ns = argparse.Namespace(
            events=str(events),
            as_of=as_of,
            store=args.store,
            format=args.format,
            dead_letters=None,
        )
        return cmd_replay(ns)
    from streams.demo import DemoError, run_live_demo

    try:
        run_live_demo(
            events,
            as_of,
            args.store or default_store(),
            d,
            sys.stdout,
            _table,
            fmt=args.format,
        )
    except DemoError as exc:
        print(f"availability demo: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from sinks.clickhouse import connect

    store = connect(args.store or default_store())
    try:
        applied = store.migrate()
    finally:
        store.close()
    print(
        f"applied {len(applied)} migrations" + (f": {', '.join(applied)}" if applied else ""),
        file=sys.stderr,
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from streams.report import WorkerApiStore, fetch_report_inputs, render_report

    if args.worker:
        try:
            statement, claims = fetch_report_inputs(
                WorkerApiStore(args.worker), args.contract, str(args.month)
            )
        except LookupError as exc:
            print(f"availability report: {exc}", file=sys.stderr)
            return 1
    else:
        from sinks.clickhouse import connect

        store = connect(args.store or default_store())
        try:
            try:
                statement, claims = fetch_report_inputs(store, args.contract, str(args.month))
            except LookupError as exc:
                print(f"availability report: {exc}", file=sys.stderr)
                return 1
        finally:
            store.close()
    text = render_report(statement, claims, args.format)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _bootstrap(args: argparse.Namespace) -> str:
    value = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not value:
        raise SystemExit("no Kafka: pass --bootstrap or set KAFKA_BOOTSTRAP_SERVERS")
    return str(value)


def _kafka_client() -> dict[str, Any]:
    """Security settings of every Kafka client, from the ``KAFKA_*`` environment."""
    from streams.kafkaconf import KafkaSecurity, KafkaSettingsError

    try:
        return KafkaSecurity.from_env().kafka_python()
    except KafkaSettingsError as exc:
        raise SystemExit(f"Kafka settings: {exc}") from None


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.topics import ensure_topics

    created = ensure_topics(_bootstrap(args), **_kafka_client())
    print(
        f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""),
        file=sys.stderr,
    )
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.produce import produce_lines
    from streams.topics import ensure_topics

    bootstrap = _bootstrap(args)
    client = _kafka_client()
    try:
        fh = sys.stdin.buffer if args.events == "-" else Path(args.events).open("rb")  # noqa: SIM115 - the with below closes it
    except OSError as exc:
        print(f"availability produce: cannot read {args.events}: {exc}", file=sys.stderr)
        return 2
    with fh:
        ensure_topics(bootstrap, **client)
        stats = produce_lines(fh, bootstrap, **client)
    total = sum(stats.by_topic.values())
    print(
        f"produced {total} events: "
        + ", ".join(f"{t} {n}" for t, n in sorted(stats.by_topic.items()))
        + (
            f" ({stats.unroutable} unroutable lines sent for dead-lettering)"
            if stats.unroutable
            else ""
        ),
        file=sys.stderr,
    )
    return 0


def _worker_clock(fixed: datetime | None, start: datetime | None) -> Callable[[], datetime]:
    """``--as-of`` (fixed), ``--clock-start`` (running from an instant) or the system clock."""
    from streams.app import system_clock

    if fixed is not None and start is not None:
        raise SystemExit("availability worker: --as-of and --clock-start exclude each other")
    if fixed is not None:
        return lambda: fixed
    if start is not None:
        began = time.monotonic()
        return lambda: start + timedelta(seconds=time.monotonic() - began)
    return system_clock


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from faust.worker import Worker as FaustWorker

    from streams.app import WorkerConfig, api_token_from_env, check_api_exposure, create_app
    from streams.kafkaconf import KafkaSecurity, KafkaSettingsError
    from streams.topics import ensure_topics

    bootstrap = _bootstrap(args)
    try:
        security = KafkaSecurity.from_env()
    except KafkaSettingsError as exc:
        raise SystemExit(f"Kafka settings: {exc}") from None
    try:
        check_api_exposure(args.web_host, api_token_from_env(os.environ))
    except ValueError as exc:  # refused before anything connects anywhere
        raise SystemExit(f"availability worker: {exc}") from None
    # until Faust sets up its own logging, so a refused connection says why
    logging.basicConfig(
        level=logging.WARNING, format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
    )
    from kafka.errors import KafkaError

    try:
        ensure_topics(bootstrap, **security.kafka_python())
    except KafkaError as exc:
        raise SystemExit(
            f"availability worker: cannot use Kafka at {bootstrap} over {security.protocol}: "
            f"{exc} (see the connection errors above; check the KAFKA_* settings)"
        ) from None
    fixed: datetime | None = args.as_of
    cfg = WorkerConfig(
        bootstrap=bootstrap,
        app_id=args.app_id,
        web_host=args.web_host,
        web_port=args.web_port,
        clock=_worker_clock(fixed, args.clock_start),
        store_dsn=None if args.store == "none" else (args.store or default_store()),
        security=security,
    )
    app = create_app(cfg)
    logging.getLogger("faust").setLevel(logging.WARNING)
    FaustWorker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[threading.Event]:
    """An event that SIGTERM sets while the block runs (the old handler is restored after)."""
    stop = threading.Event()
    try:
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    except ValueError:  # not the main thread: nothing to install
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_probe(args: argparse.Namespace) -> int:
    from streams.prober import Prober, TargetsError, load_targets, run

    try:
        targets = load_targets(args.targets)
        prober = Prober(targets, args.region, timeout=args.timeout)
    except (TargetsError, ValueError) as exc:
        print(f"availability probe: {exc}", file=sys.stderr)
        return 2
    if args.interval <= 0:
        print("availability probe: --interval must be positive", file=sys.stderr)
        return 2
    publisher = None
    if not args.dry_run:
        from streams.produce import EventPublisher

        publisher = EventPublisher(
            _bootstrap(args), client_id="availability-probe", **_kafka_client()
        )

    def publish(events: list[JSON]) -> None:
        if publisher is not None:
            for ev in events:
                publisher.send(ev)
            try:
                publisher.flush(timeout=max(10.0, args.interval))
            except Exception as exc:  # a broker blip must not stop the probing
                print(
                    f"availability probe: delivery of {len(events)} events not confirmed "
                    f"({exc}); they stay queued and are retried",
                    file=sys.stderr,
                )
        for ev in events:
            sys.stdout.write(json.dumps(ev, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        failed = sum(1 for ev in events if not ev["ok"])
        print(
            f"probed {len(events)} targets from {args.region}: {len(events) - failed} ok, "
            f"{failed} failed" + (" (not published)" if publisher is None else ""),
            file=sys.stderr,
        )

    try:
        with _stop_on_sigterm() as stop:
            run(prober, publish, args.interval, once=args.once, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        if publisher is not None:
            publisher.close()
    return 0


def _now() -> datetime:
    return datetime.now(UTC)


def _services(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no service given")
    return names


def cmd_incident(args: argparse.Namespace) -> int:
    from streams import operator, topics
    from streams.produce import EventPublisher, read_topic

    bootstrap = _bootstrap(args)
    client = _kafka_client()
    topics.ensure_topics(bootstrap, **client)
    recorded_at: datetime = args.recorded_at or _now()
    incident_id: str = args.incident or operator.new_incident_id(recorded_at)
    history = operator.incident_history(
        (m.value for m in read_topic(bootstrap, topics.INCIDENTS.name, **client)), incident_id
    )
    try:
        if args.action == "declare":
            ev = operator.declare(
                history,
                incident_id,
                args.services,
                started_at=args.started_at or recorded_at,
                recorded_at=recorded_at,
                ended_at=args.ended_at,
                cause=args.cause,
                impact=args.impact,
                status=args.status,
                title=args.title,
            )
        elif args.action == "update":
            ended: Any = operator.KEEP
            if args.reopen:
                ended = None
            elif args.ended_at is not None:
                ended = args.ended_at
            ev = operator.revise(
                history,
                incident_id,
                recorded_at,
                services=args.services,
                started_at=args.started_at,
                ended_at=ended,
                cause=args.cause,
                impact=args.impact,
                status=args.status,
                title=args.title,
            )
        elif args.action == "reclassify":
            ev = operator.reclassify(history, incident_id, args.cause, recorded_at)
        else:
            ev = operator.retract(history, incident_id, recorded_at)
    except operator.OperatorError as exc:
        print(f"availability incident {args.action}: {exc}", file=sys.stderr)
        return 1
    with EventPublisher(bootstrap, client_id="availability-incident", **client) as pub:
        pub.send(ev)
    print(operator.dumps(ev))
    return 0


def cmd_claim(args: argparse.Namespace) -> int:
    from streams import operator

    submitted_at: datetime = args.submitted_at or _now()
    try:
        intervals = [operator.parse_interval(t) for t in args.interval]
        ev = operator.claim(
            args.claim_id or operator.new_claim_id(submitted_at),
            args.contract,
            submitted_at,
            args.subject,
            intervals,
            contact=args.contact,
            notes=args.notes,
        )
    except operator.OperatorError as exc:
        print(f"availability claim: {exc}", file=sys.stderr)
        return 2
    if not args.dry_run:
        from streams.produce import EventPublisher

        with EventPublisher(
            _bootstrap(args), client_id="availability-claim", **_kafka_client()
        ) as pub:
            pub.send(ev)
    print(operator.dumps(ev))
    return 0


def cmd_billing(args: argparse.Namespace) -> int:
    from streams.billing import CreditBook, print_rows, run, table

    state = Path(args.state) if args.state else data_dir() / "billing-state.json"
    try:
        book = CreditBook.load(state)
    except (OSError, ValueError, KeyError) as exc:
        print(f"availability billing: cannot use state {state}: {exc}", file=sys.stderr)
        return 2

    def show(current: CreditBook, changed: list[JSON]) -> None:
        if args.once:
            return
        if args.format == "jsonl":
            print_rows(changed, sys.stdout)
        else:
            print(table(current.rows()) + "\n", flush=True)

    if not args.once and book.statements:
        show(book, book.rows())
    try:
        with _stop_on_sigterm() as stop:
            book = run(
                _bootstrap(args), state, args.group, args.once, show, stop=stop, **_kafka_client()
            )
    except KeyboardInterrupt:
        return 0
    if args.once:
        if args.format == "jsonl":
            print_rows(book.rows(), sys.stdout)
        else:
            print(table(book.rows()))
    print(
        f"{len(book.statements)} contract-months, {len(book.claims)} claim decisions "
        f"({book.skipped} unreadable records skipped); state {state}",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="availability", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("replay", help="fold a JSON Lines file of events into statements")
    r.add_argument("events", help="JSON Lines file of events ('-' for stdin)")
    r.add_argument(
        "--as-of",
        type=_instant,
        default=None,
        help="RFC 3339 instant to compute as of (default: now)",
    )
    r.add_argument(
        "--store",
        default=None,
        help="ClickHouse DSN (chdb:///path or http://host:8123); 'none' to skip "
        "(default: the embedded store in the data directory)",
    )
    r.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    r.add_argument(
        "--dead-letters",
        default=None,
        help="where to write rejected lines (default: DATA/dead-letters.jsonl)",
    )
    r.set_defaults(func=cmd_replay)

    g = sub.add_parser("generate", help="write a realistic simulated event stream")
    g.add_argument("out")
    g.add_argument("--month", type=_month, default=Month(2026, 3))
    g.add_argument("--months", type=int, default=1)
    g.add_argument("--services", default="api,web,worker")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--interval", type=int, default=60, help="seconds between probes")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="the main job on embedded defaults")
    d.add_argument("--month", type=_month, default=Month(2026, 3))
    d.add_argument("--store", default=None, help="ClickHouse DSN (default: the embedded store)")
    d.add_argument("--format", choices=("jsonl", "table"), default="table")
    d.add_argument(
        "--days",
        type=int,
        default=8,
        help="days of probes in the simulated month (incidents, claims and tickets cover it all)",
    )
    d.add_argument(
        "--offline",
        action="store_true",
        help="replay the month in-process instead of running it through Kafka and a worker",
    )
    d.set_defaults(func=cmd_demo)

    m = sub.add_parser("migrate", help="apply the ClickHouse migrations (idempotent)")
    m.add_argument("--store", default=None, help="ClickHouse DSN (default: the embedded store)")
    m.set_defaults(func=cmd_migrate)

    rp = sub.add_parser("report", help="the monthly SLA report of one contract")
    rp.add_argument("--contract", required=True)
    rp.add_argument("--month", type=_month, required=True)
    rp.add_argument("--format", choices=("table", "json", "csv", "html"), default="table")
    rp.add_argument("--store", default=None, help="ClickHouse DSN (default: the embedded store)")
    rp.add_argument("--output", default=None, help="write to this file instead of stdout")
    rp.add_argument(
        "--worker",
        default=None,
        help="read from a running worker's HTTP API (http://127.0.0.1:6066) "
        "instead of a ClickHouse store",
    )
    rp.set_defaults(func=cmd_report)

    t = sub.add_parser("topics", help="create the Kafka topics of the registry (idempotent)")
    t.add_argument("--bootstrap", default=None, help="default: $KAFKA_BOOTSTRAP_SERVERS")
    t.set_defaults(func=cmd_topics)

    pr = sub.add_parser("produce", help="send a JSON Lines file of events into Kafka")
    pr.add_argument("events", help="JSON Lines file ('-' for stdin)")
    pr.add_argument("--bootstrap", default=None, help="default: $KAFKA_BOOTSTRAP_SERVERS")
    pr.set_defaults(func=cmd_produce)

    w = sub.add_parser("worker", help="run the streaming worker (Faust)")
    w.add_argument("--bootstrap", default=None, help="default: $KAFKA_BOOTSTRAP_SERVERS")
    w.add_argument("--app-id", default="availability", help="consumer group and table prefix")
    w.add_argument("--web-host", default="127.0.0.1")
    w.add_argument("--web-port", type=int, default=6066)
    w.add_argument(
        "--store", default="none", help="ClickHouse DSN for outputs ('none' to skip; default none)"
    )
    w.add_argument(
        "--as-of",
        type=_instant,
        default=None,
        help="a fixed clock (simulations and tests); default: the system clock",
    )
    w.add_argument(
        "--clock-start",
        type=_instant,
        default=None,
        help="a clock that starts at this instant and runs at real speed (simulations)",
    )
    w.add_argument("--loglevel", default="warning")
    w.set_defaults(func=cmd_worker)

    pb = sub.add_parser("probe", help="check target URLs every interval and publish probe events")
    pb.add_argument(
        "--targets",
        required=True,
        help="JSON list or JSON Lines of {service, url, expect_status?} (see streams/prober.py)",
    )
    pb.add_argument("--region", required=True, help="where this prober runs (the probe's region)")
    pb.add_argument("--interval", type=float, default=60.0, help="seconds between rounds")
    pb.add_argument("--timeout", type=float, default=5.0, help="seconds before a check fails")
    pb.add_argument("--bootstrap", default=None, help="default: $KAFKA_BOOTSTRAP_SERVERS")
    pb.add_argument("--once", action="store_true", help="one round, then exit")
    pb.add_argument(
        "--dry-run", action="store_true", help="print the events without publishing them"
    )
    pb.set_defaults(func=cmd_probe)

    from sla.model import Cause, Impact, IncidentStatus

    causes = [c.value for c in Cause]
    impacts = [i.value for i in Impact]
    statuses = [s.value for s in IncidentStatus]
    inc = sub.add_parser(
        "incident", help="declare or change an incident (publishes its next revision)"
    )
    isub = inc.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("declare", "revision 0 of a new incident"),
        ("update", "the next revision with the given fields changed"),
        ("reclassify", "the next revision with a new cause"),
        ("retract", "the next revision with status retracted"),
    ):
        a = isub.add_parser(name, help=help_text)
        a.add_argument(
            "--incident",
            required=name != "declare",
            default=None,
            help="incident id" + (" (default: a new one)" if name == "declare" else ""),
        )
        a.add_argument("--bootstrap", default=None, help="default: $KAFKA_BOOTSTRAP_SERVERS")
        a.add_argument(
            "--recorded-at",
            type=_instant,
            default=None,
            help="when this revision became known (default: now)",
        )
        if name in ("declare", "update"):
            a.add_argument(
                "--services",
                type=_services,
                required=name == "declare",
                default=None,
                help="comma-separated services",
            )
            a.add_argument(
                "--started-at",
                type=_instant,
                default=None,
                help="RFC 3339" + (" (default: now)" if name == "declare" else ""),
            )
            a.add_argument("--ended-at", type=_instant, default=None, help="RFC 3339")
            a.add_argument(
                "--cause",
                choices=causes,
                default="internal" if name == "declare" else None,
            )
            a.add_argument(
                "--impact",
                choices=impacts,
                default="outage" if name == "declare" else None,
            )
            a.add_argument("--status", choices=statuses, default=None)
            a.add_argument("--title", default=None)
        if name == "update":
            a.add_argument("--reopen", action="store_true", help="clear ended_at (status open)")
        if name == "reclassify":
            a.add_argument("--cause", choices=causes, required=True)
        a.set_defaults(func=cmd_incident)

    cl = sub.add_parser("claim", help='record an "SLA Credit Request" as it arrived')
    cl.add_argument("--contract", required=True, help="the contract (Purchase Order) id")
    cl.add_argument(
        "--submitted-at", type=_instant, default=None, help="when it arrived (default: now)"
    )
    cl.add_argument("--subject", required=True, help="the email's subject, as received")
    cl.add_argument(
        "--interval",
        action="append",
        required=True,
        help="START/END of one claimed incident (RFC 3339); repeat for several",
    )
    cl.add_argument("--claim-id", default=None, help="default: a new one")
    cl.add_argument("--contact", default=None)
    cl.add_argument("--notes", default=None)
    cl.add_argument("--bootstrap", default=None, help="default: $KAFKA_BOOTSTRAP_SERVERS")
    cl.add_argument("--dry-run", action="store_true", help="print the event without publishing it")
    cl.set_defaults(func=cmd_claim)

    bl = sub.add_parser(
        "billing", help="the reference billing consumer: current credits per contract-month"
    )
    bl.add_argument("--bootstrap", default=None, help="default: $KAFKA_BOOTSTRAP_SERVERS")
    bl.add_argument("--group", default="availability-billing", help="consumer group id")
    bl.add_argument(
        "--state", default=None, help="JSON state file (default: DATA/billing-state.json)"
    )
    bl.add_argument("--format", choices=("table", "jsonl"), default="table")
    bl.add_argument("--once", action="store_true", help="read to the end, print the credits, exit")
    bl.set_defaults(func=cmd_billing)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["json", "main"]
