"""The ``availability`` command line.

Subcommands are thin: they parse arguments, call the core or a sink, and
print. Exit codes: 0 success, 1 failure (a store, broker or worker that
cannot be reached or refuses; nothing valid read), 2 bad usage or unreadable
input. A command reports a failure as one line on stderr, naming what failed
and what to do; ``--debug`` lets the traceback through instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse

from sla.months import Month
from sla.timeutil import format_instant, parse_instant

JSON = dict[str, Any]


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

EXIT_CODES = """\
exit status:
  0  success
  1  failure: a store, broker or worker cannot be reached or refuses; nothing valid read
  2  bad usage or unreadable input
A failure is one line on stderr saying what failed and what to do; --debug
prints its traceback instead."""


class CliError(Exception):
    """A failure the user can act on.

    ``message`` says what failed and what to do about it; ``code`` is the exit
    status (:data:`EXIT_FAILURE` or :data:`EXIT_USAGE`).
    """

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def redact_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***`` (fit for a message)."""
    parsed = urlparse(dsn)
    if parsed.password is None:
        return dsn
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')\]]+|timed out|Connection refused|Read timed out")


def _reason(exc: object) -> str:
    """The short cause of a driver error (the ``[Errno ...]`` part when there is one)."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip().rstrip(".")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def _store_of(args: argparse.Namespace) -> str:
    store = getattr(args, "store", None)
    return redact_dsn(store if store and store != "none" else default_store())


def _bootstrap_of(args: argparse.Namespace) -> str:
    return str(getattr(args, "bootstrap", None) or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "?")


def explain(exc: BaseException, args: argparse.Namespace) -> CliError:
    """The one-line message and exit status for an error a command let through."""
    if isinstance(exc, CliError):
        return exc
    from clickhouse_connect.driver.exceptions import (
        ClickHouseError,
        DatabaseError,
        OperationalError,
    )
    from kafka.errors import KafkaError

    from sinks.migrate import MigrationError
    from streams.config import ConfigError

    if isinstance(exc, ConfigError):
        return CliError(str(exc), EXIT_USAGE)
    store = _store_of(args)
    if isinstance(exc, OperationalError):
        return CliError(
            f"cannot reach the store at {store}: {_reason(exc)} "
            "(is ClickHouse running there? check --store)"
        )
    if isinstance(exc, DatabaseError) and re.search(r"UNKNOWN_(DATABASE|TABLE)", str(exc)):
        return CliError(
            f"the store at {store} has no tables yet: run `availability migrate"
            + (f" --store {store}`" if getattr(args, "store", None) else "`")
            + " first"
        )
    if isinstance(exc, MigrationError):
        return CliError(f"cannot migrate the store at {store}: {exc}")
    if isinstance(exc, ClickHouseError):
        return CliError(f"the store at {store} refused: {_reason(exc)}")
    if isinstance(exc, KafkaError):
        return CliError(
            f"cannot use Kafka at {_bootstrap_of(args)}: {_reason(exc)} "
            "(is the broker running? check --bootstrap, KAFKA_BOOTSTRAP_SERVERS and KAFKA_*)"
        )
    if isinstance(exc, HTTPError):
        hint = " (set AVAILABILITY_API_TOKEN_FILE to the worker's token)" if exc.code == 401 else ""
        return CliError(
            f"the worker at {getattr(args, 'worker', '?')} answered HTTP {exc.code}{hint}"
        )
    if isinstance(exc, URLError):
        worker = getattr(args, "worker", None) or "the worker"
        return CliError(
            f"cannot reach the worker at {worker}: {_reason(exc.reason)} "
            "(is `availability worker` running there? check --worker)"
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return CliError(f"{exc.strerror or exc}{':' if where else ''}{where}")
    return CliError(
        f"unexpected error: {type(exc).__name__}: {_reason(exc)} "
        "(rerun with --debug for the traceback)"
    )


def data_dir() -> Path:
    """Where embedded state lives: ``$AVAILABILITY_DATA``, the config file's ``data``, ./data."""
    from streams.config import data_dir as configured

    return configured()


def default_store() -> str:
    """The embedded ClickHouse (chDB) under the data directory."""
    return f"chdb://{data_dir() / 'clickhouse'}"


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc} (expected an RFC 3339 instant with its offset, e.g. 2026-04-11T00:00:00Z)"
        ) from exc


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _as_of(text: str) -> datetime:
    """An instant, or a calendar date meaning its first instant in UTC (a clock, not a month)."""
    if _DATE.fullmatch(text.strip()):
        return _instant(text.strip() + "T00:00:00Z")
    return _instant(text)


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (a month is YYYY-MM, e.g. 2026-03)") from exc


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, got 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


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
            "coverage %",
            "elapsed",
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
                    o["coverage_percent"],
                    f"{o['elapsed_minutes']}/{o['minutes_in_month']}",
                    o["uptime_percent"],
                    # a month in progress has only met (or missed) its target so far
                    ("met" if o["meets_target"] else "MISSED")
                    + (" so far" if o["remaining_minutes"] else ""),
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
                "coverage %",
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
                    o["coverage_percent"],
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
    from streams.support_report import support_table

    lines.extend(support_table(outputs))
    return "\n".join(lines)


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


class _NativeStderr:
    """File descriptor 2 into a temporary file while the block runs.

    The embedded engine (chDB) writes its own errors straight to fd 2, past
    Python; captured, they become part of one message instead of a second,
    unexplained line. :meth:`text` reads what was written.
    """

    def __enter__(self) -> _NativeStderr:
        import tempfile

        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def text(self) -> str:
        self._file.seek(0)
        return self._file.read().decode("utf-8", errors="replace")

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.close()


def _connect_embedded(dsn: str) -> Any:
    """:func:`sinks.store.connect` on a chdb DSN, the engine's own output captured."""
    from sinks.store import connect

    with _NativeStderr() as native:
        try:
            store = connect(dsn)
        except ValueError:
            raise
        except Exception:
            said = native.text()
            if "Cannot lock file" in said or "already running" in said:
                raise CliError(
                    f"the embedded store at {redact_dsn(dsn)} is in use by another process "
                    "(a running worker or demo): stop it first, or read from the running "
                    "worker with --worker URL"
                ) from None
            raise
        said = native.text()
    if said:  # nothing went wrong: whatever the engine said is shown as it was
        sys.stderr.write(said)
    return store


def _open_store(arg: str | None) -> Any:
    """A store on ``arg`` (default: the embedded one); a bad DSN is a usage error."""
    from sinks.store import connect

    dsn = arg or default_store()
    try:
        return _connect_embedded(dsn) if dsn.startswith("chdb:") else connect(dsn)
    except ValueError as exc:
        raise CliError(
            f"bad --store {redact_dsn(dsn)}: {exc} (for example chdb:///var/lib/availability, "
            "http://user:pass@clickhouse:8123/availability, or none)",
            EXIT_USAGE,
        ) from None


def _reason_counts(dead: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for d in dead:
        counts[d.reason] = counts.get(d.reason, 0) + 1
    return ", ".join(f"{r} {n}" for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def cmd_replay(args: argparse.Namespace) -> int:
    from sla.book import Book
    from streams.replay import BATCH, DeadLetter, Folder, batched, compute_outputs, dumps

    as_of: datetime = args.as_of or datetime.now(UTC)
    path = Path(args.events)
    try:
        fh = sys.stdin.buffer if args.events == "-" else path.open("rb")
    except OSError as exc:
        raise CliError(f"cannot read {args.events}: {exc.strerror or exc}", EXIT_USAGE) from None
    # the store is reached before anything is read, so an unreachable one
    # fails the run at once instead of after the results were printed
    store = None if args.store == "none" else _open_store(args.store)
    try:
        if store is not None:
            store.migrate()
        # --store none keeps the run free of side effects unless a file is named
        dl_path: Path | None = (
            Path(args.dead_letters)
            if args.dead_letters
            else (None if store is None else data_dir() / "dead-letters.jsonl")
        )
        dl_out: IO[str] | None = None
        if dl_path is not None:
            try:
                dl_path.parent.mkdir(parents=True, exist_ok=True)
                # appended: an earlier run's dead letters are never overwritten
                dl_out = dl_path.open("a", encoding="utf-8")
            except OSError as exc:
                fh.close()
                raise CliError(
                    f"cannot write the dead letters to {dl_path}: {exc.strerror or exc} "
                    "(choose another file with --dead-letters)",
                    EXIT_USAGE,
                ) from None
        total = path.stat().st_size if args.events != "-" else 0
        progress = _Progress(total, sys.stderr)
        book = Book()
        folder = Folder(book, as_of)
        dead: list[DeadLetter] = []
        limit: int | None = args.max_dead_letters
        with fh, dl_out if dl_out is not None else contextlib.nullcontext():
            for batch in batched(_numbered(fh, progress), BATCH):
                raws = [raw for _, raw in batch]
                sources = [{"file": args.events, "line": no} for no, _ in batch]
                for dl in folder.ingest_batch(raws, sources):
                    dead.append(dl)
                    if not args.quiet:
                        print(
                            f"line {dl.source['line']}: {dl.reason}: {dl.detail}",
                            file=sys.stderr,
                        )
                    if dl_out is not None:
                        dl_out.write(dumps(dl.to_json()) + "\n")
                    if limit is not None and len(dead) > limit:
                        progress.close()
                        raise CliError(
                            f"more than {limit} dead letters (the last at line "
                            f"{dl.source['line']}: {dl.reason}); stopped before computing "
                            f"anything: {_reason_counts(dead)}"
                        )
        n_events = sum(folder.stats.events.values())
        if dead:
            print(f"dead letters by reason: {_reason_counts(dead)}", file=sys.stderr)
        if n_events == 0:
            raise CliError(
                f"no valid event in {args.events} ({len(dead)} bad lines); nothing computed"
            )
        outputs = compute_outputs(book, as_of, folder.tickets)
        if args.format == "csv":
            from streams.export_csv import CONTRACT_MONTH_COLUMNS, contract_month_rows, to_csv

            sys.stdout.write(to_csv(CONTRACT_MONTH_COLUMNS, contract_month_rows(outputs)))
        else:
            print_records(outputs, args.format or ("table" if sys.stdout.isatty() else "jsonl"))
        sys.stdout.flush()
        if getattr(args, "claims_csv", None):
            from streams.export_csv import CLAIM_COLUMNS, claim_rows, to_csv

            Path(args.claims_csv).parent.mkdir(parents=True, exist_ok=True)
            Path(args.claims_csv).write_text(
                to_csv(CLAIM_COLUMNS, claim_rows(outputs)), encoding="utf-8"
            )
        if store is not None:
            store.write_outputs(outputs)
            store.write_dead_letters([d.to_json() for d in dead])
    finally:
        if store is not None:
            store.close()
    print(
        f"replayed {n_events} events as of {format_instant(as_of)}: "
        f"{len(outputs)} outputs, {len(dead)} dead letters"
        + (f" (appended to {dl_path})" if dl_path is not None and dead else ""),
        file=sys.stderr,
    )
    _check_coverage(outputs, getattr(args, "min_coverage", None))
    return 0


def _check_coverage(outputs: list[JSON], minimum: Decimal | None) -> None:
    """``--min-coverage``: fail (exit 1) naming the contract-months below it."""
    from streams.explain import below_coverage, coverage_failure

    if minimum is None:
        return
    low = below_coverage(outputs, minimum)
    if low:
        raise CliError(coverage_failure(low, minimum))


def _percent(text: str) -> Decimal:
    from streams.explain import parse_percent

    try:
        return parse_percent(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: How the commands that print records print them.
RECORD_FORMATS = ("table", "json", "jsonl")


def print_records(
    outputs: list[JSON],
    fmt: str,
    out: IO[str] | None = None,
    table: Callable[[list[JSON]], str] | None = None,
) -> None:
    """Print ``outputs`` as a table (``table``, default the replay tables), one JSON array,
    JSON Lines or CSV (``fmt``).

    CSV has a header row of every field in first-seen order, then a row per
    record: objects and lists as compact JSON, ``null`` as an empty cell.
    """
    from streams.replay import dumps

    out = out if out is not None else sys.stdout
    if fmt == "jsonl":
        for o in outputs:
            out.write(dumps(o) + "\n")
    elif fmt == "json":
        out.write("[\n" + ",\n".join(dumps(o) for o in outputs) + ("\n]\n" if outputs else "]\n"))
    elif fmt == "csv":
        from streams.cli_tables import write_csv

        write_csv(outputs, out)
    else:
        out.write((table or _table)(outputs) + "\n")


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
    # its own folder: the examples' store under the data directory never gets a
    # second, different statement for the same contract, month and revision
    d = data_dir() / "demo"
    d.mkdir(parents=True, exist_ok=True)
    store = args.store or f"chdb://{d / 'clickhouse'}"
    events = d / f"demo-{sc.month}.jsonl"
    write_jsonl(sc, str(events))
    as_of = default_as_of(sc)
    if args.offline:
        ns = argparse.Namespace(
            events=str(events),
            as_of=as_of,
            store=store,
            format=args.format,
            dead_letters=None if store == "none" else str(d / "dead-letters.jsonl"),
            quiet=False,
            max_dead_letters=None,
        )
        return cmd_replay(ns)
    from streams.demo import DemoError, run_live_demo

    try:
        run_live_demo(events, as_of, store, d, sys.stdout, _table, fmt=args.format)
    except DemoError as exc:
        print(f"availability demo: {exc}", file=sys.stderr)
        return 1
    if args.store is None:
        print(
            f"demo: the statements are in {store}; e.g. availability report --store {store} "
            f"--contract PO-1001 --month {sc.month}",
            file=sys.stderr,
        )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from sinks.migrate import load_migrations

    store = _open_store(args.store)
    try:
        if not load_migrations(store.settings.migrations_dir):
            # an installation without its migrations would report success and
            # leave a store that every later command fails on
            raise CliError(
                f"no migrations found in {store.settings.migrations_dir}: "
                "the installation is incomplete (reinstall availability-pipeline)"
            )
        down = args.down_to is not None
        done = store.migrate_down(args.down_to) if down else store.migrate()
    finally:
        store.close()
    print(
        f"{'reverted' if down else 'applied'} {len(done)} migrations"
        + (f": {', '.join(done)}" if done else ""),
        file=sys.stderr,
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from streams.explain import report_settings
    from streams.report import WorkerApiStore, fetch_report_inputs, render_report

    support: tuple[list[JSON], list[JSON]] | None = None
    if args.worker:
        try:
            statement, claims = fetch_report_inputs(
                WorkerApiStore(args.worker), args.contract, str(args.month)
            )
        except LookupError as exc:
            raise CliError(str(exc)) from None
    else:
        store = _open_store(args.store)
        try:
            try:
                statement, claims = fetch_report_inputs(store, args.contract, str(args.month))
            except LookupError as exc:
                raise CliError(
                    f"{exc} in the store at {_store_of(args)} "
                    "(replay or run the worker for that month first)"
                ) from None
            client, month = statement["client_id"], str(args.month)
            support = (
                store.support_months(month, client),
                store.ticket_verdicts(client, month),
            )
        finally:
            store.close()
    try:
        settings = report_settings()
    except ValueError as exc:
        raise CliError(f"AVAILABILITY_LOW_COVERAGE: {exc}", EXIT_USAGE) from None
    text = render_report(statement, claims, args.format, args.audience, settings, support)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    _check_coverage([statement], args.min_coverage)
    return 0


def _bootstrap(args: argparse.Namespace, *, check: bool = True) -> str:
    """The bootstrap servers of ``args`` or the environment.

    With ``check``, at least one of them must accept a TCP connection within
    a few seconds: a one-shot tool then fails at once with the reason instead
    of after the Kafka client's own minute-long bootstrap timeout.
    """
    value = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not value:
        raise CliError("no Kafka: pass --bootstrap or set KAFKA_BOOTSTRAP_SERVERS", EXIT_USAGE)
    if check:
        _reach_kafka(str(value))
    return str(value)


def _reach_kafka(bootstrap: str, timeout: float = 5.0) -> None:
    """Raise :class:`CliError` unless one of ``bootstrap``'s servers accepts a connection."""
    import socket

    reasons: list[str] = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, sep, port = server.rpartition(":")
        if not sep or not port.isdigit():
            raise CliError(
                f"bad Kafka bootstrap server {server!r}: expected host:port, e.g. localhost:9092",
                EXIT_USAGE,
            )
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return
        except OSError as exc:
            reasons.append(f"{server}: {exc.strerror or exc}")
    raise CliError(
        f"cannot reach Kafka at {bootstrap} ({'; '.join(reasons) or 'no server given'}): "
        "is the broker running? check --bootstrap or KAFKA_BOOTSTRAP_SERVERS"
    )


def _kafka_client() -> dict[str, Any]:
    """Security settings of every Kafka client, from the ``KAFKA_*`` environment."""
    from streams.kafkaconf import KafkaSecurity, KafkaSettingsError

    try:
        return KafkaSecurity.from_env().kafka_python()
    except KafkaSettingsError as exc:
        raise CliError(f"Kafka settings: {exc}", EXIT_USAGE) from None


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
        raise CliError("--as-of and --clock-start exclude each other", EXIT_USAGE)
    if fixed is not None:
        return lambda: fixed
    if start is not None:
        began = time.monotonic()
        return lambda: start + timedelta(seconds=time.monotonic() - began)
    return system_clock


def cmd_worker(args: argparse.Namespace) -> int:
    from faust.worker import Worker as FaustWorker

    from streams.app import WorkerConfig, api_token_from_env, check_api_exposure, create_app
    from streams.kafkaconf import KafkaSecurity, KafkaSettingsError
    from streams.topics import ensure_topics

    # the worker waits for its broker like any long-running service
    bootstrap = _bootstrap(args, check=False)
    try:
        security = KafkaSecurity.from_env()
    except KafkaSettingsError as exc:
        raise CliError(f"Kafka settings: {exc}", EXIT_USAGE) from None
    try:
        check_api_exposure(args.web_host, api_token_from_env(os.environ))
    except ValueError as exc:  # refused before anything connects anywhere
        raise CliError(str(exc), EXIT_USAGE) from None
    # until Faust sets up its own logging, so a refused connection says why
    logging.basicConfig(
        level=logging.WARNING, format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
    )
    from kafka.errors import KafkaError

    from streams.logfilter import TransientTopicFilter
    from streams.router import statement_inputs_topic

    logging.getLogger("aiokafka.cluster").addFilter(TransientTopicFilter(f"{args.app_id}-"))
    # the admin client's own poller timing its tasks on a busy machine, not a fault
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)

    try:
        ensure_topics(bootstrap, **security.kafka_python())
        # the statement stage's own input topic, shared out by partition
        ensure_topics(
            bootstrap, specs=[statement_inputs_topic(args.app_id)], **security.kafka_python()
        )
    except KafkaError as exc:
        raise CliError(
            f"cannot use Kafka at {bootstrap} over {security.protocol}: "
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
    host = f"[{args.web_host}]" if ":" in args.web_host else args.web_host
    # said before Faust takes over the output: where to look and what to expect
    print(
        f"availability worker {_version()}: HTTP API on http://{host}:{args.web_port} "
        f"(/health, /metrics); Kafka {bootstrap} over {security.protocol}; consumer groups "
        f"{args.app_id} (statements, claims, tickets) and {args.app_id}-probes (probes); "
        f"store {'none' if cfg.store_dsn is None else redact_dsn(cfg.store_dsn)}",
        file=sys.stderr,
        flush=True,
    )
    logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(_StartupCoordinatorFilter())
    worker = FaustWorker(app, loglevel=args.loglevel, quiet=True)
    if not worker.stdout.isatty():
        # the start-up spinner is cursor escapes and backspaces in a log file
        worker.spinner = None
    worker.execute_from_commandline()
    return 0


class _StartupCoordinatorFilter(logging.Filter):
    """Logs a retriable coordinator lookup failure as a warning during the first ``grace`` s.

    A fresh cluster answers "coordinator not available" while it creates its
    offsets topic; aiokafka retries and logs each attempt as an ERROR, which
    made a healthy start open with an error. Later, the same failure is a
    real outage and stays an ERROR.
    """

    def __init__(self, grace: float = 60.0) -> None:
        super().__init__()
        self.until = time.monotonic() + grace

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and str(record.msg).startswith("Group Coordinator Request failed")
            and isinstance(record.args, tuple)
            and getattr(record.args[0] if record.args else None, "retriable", False)
            and time.monotonic() < self.until
        ):
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of descriptions and epilogs and shows each option's default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and action.option_strings
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


_TOP = """\
Availability SLA pipeline: probe results and incident reports in, monthly
uptime, service credits and claim decisions out.

commands, by who uses them:
  try it and report (billing, account managers)
    demo        the whole pipeline on a simulated month, on embedded defaults
    generate    write a simulated month of events to a file
    replay      compute statements from a file of events, offline
    migrate     create or upgrade the ClickHouse tables (idempotent), or --down-to N
    report      the monthly SLA report of one contract (table, json, csv, html)
    billing     follow the published statements: the credits per contract-month
  look up and change what the store holds (billing, account managers, support)
    statements  list the contract-month statements, or show one
    claims      list the decisions on credit claims, or show one
    tickets     list the support tickets and their first-response verdicts
    contracts   list the contracts and their terms, or apply a contract file
  run the service (operations)
    worker      the streaming worker on Kafka, with its HTTP API and metrics
    probe       check target URLs and publish probe events
    topics      create the Kafka topics (idempotent)
    produce     send a file of events into Kafka
  record what happened (on-call, support)
    incident    declare, update, reclassify or retract an incident
    claim       record an "SLA Credit Request" as it arrived

Run `availability COMMAND --help` for a command's options and an example."""

_EPILOG = (
    "settings: a flag wins over the environment, which wins over the config file,\n"
    "which wins over the built-in default:\n"
    "  AVAILABILITY_STORE   the --store of every command (default: the embedded\n"
    "                       store under the data directory; none for the worker)\n"
    "  AVAILABILITY_DATA    the data directory (default: ./data)\n"
    "  AVAILABILITY_CONFIG  the config file (default: ./availability.toml if there\n"
    "                       is one): TOML with the keys store and data, e.g.\n"
    '                       store = "chdb://state/clickhouse"; relative paths in\n'
    "                       it are relative to its folder\n"
    "  KAFKA_BOOTSTRAP_SERVERS and KAFKA_* (Kafka), AVAILABILITY_TOPIC_PREFIX\n\n" + EXIT_CODES
)

_STORE_HELP = (
    "the ClickHouse store: chdb:///path (embedded), http://user:pass@host:8123/db (a server)"
    "{none} (default: $AVAILABILITY_STORE, the config file's store, else the embedded store "
    "under the data directory)"
)
_BOOTSTRAP_HELP = (
    "Kafka bootstrap servers, host:port[,host:port] (default: $KAFKA_BOOTSTRAP_SERVERS)"
)
_INSTANT = "an RFC 3339 instant with its offset, for example 2026-04-11T00:00:00Z"


#: ``--min-coverage`` of replay and report, for month-end checks in scripts
_MIN_COVERAGE: dict[str, Any] = {
    "type": _percent,
    "default": None,
    "metavar": "PCT",
    "help": "after the output, fail (exit 1) naming every contract-month whose monitoring "
    "coverage (elapsed minutes with data) is below PCT percent",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``availability`` argument parser: every option with a sentence, defaults and examples."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the full traceback of a failure instead of its one-line message",
    )
    p = argparse.ArgumentParser(
        prog="availability",
        description=_TOP,
        epilog=_EPILOG,
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument(
        "--debug",
        action="store_true",
        default=False,
        help="print the full traceback of a failure instead of its one-line message",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)

    def command(name: str, summary: str, *examples: str) -> argparse.ArgumentParser:
        epilog = "example" + ("s" if len(examples) > 1 else "") + ":\n"
        epilog += "".join(f"  {e}\n" for e in examples) + "\n" + EXIT_CODES
        return sub.add_parser(
            name,
            description=textwrap.fill(summary, 79),
            epilog=epilog,
            formatter_class=_HelpFormatter,
            parents=[common],
        )

    r = command(
        "replay",
        "Fold a JSON Lines file of events into statements, service-month records and claim "
        "decisions, as of one instant. Bad lines are reported, summed up by reason and "
        "appended to the dead-letter file; the run goes on.",
        "availability replay data/march.jsonl --as-of 2026-04-11T00:00:00Z --format table",
        "availability replay events.jsonl --store none --quiet --max-dead-letters 0",
    )
    r.add_argument("events", help="the JSON Lines file of events ('-' reads stdin)")
    r.add_argument(
        "--as-of",
        type=_as_of,
        default=None,
        help=f"compute as of this instant, {_INSTANT}, or a date YYYY-MM-DD for its "
        "00:00:00Z (default: now)",
    )
    r.add_argument(
        "--store", default=None, help=_STORE_HELP.format(none=", or none to write nothing")
    )
    r.add_argument(
        "-o",
        "--output-format",
        "--format",
        dest="format",
        choices=(*RECORD_FORMATS, "csv"),
        default=None,
        help="table: columns for reading; json: one JSON array; jsonl: one JSON record per "
        "line; csv: one row per contract-month, columns named as in the JSON (default: table "
        "on a terminal, jsonl when piped)",
    )
    r.add_argument(
        "--claims-csv",
        default=None,
        metavar="FILE",
        help="also write one CSV row per claim decision to FILE, columns named as in the JSON",
    )
    r.add_argument(
        "--dead-letters",
        default=None,
        metavar="FILE",
        help="append the rejected lines to FILE (default: DATA/dead-letters.jsonl when a store "
        "is written; none with --store none)",
    )
    r.add_argument(
        "-q", "--quiet", action="store_true", help="no line per dead letter, only the summary"
    )
    r.add_argument(
        "--max-dead-letters",
        type=_count,
        default=None,
        metavar="N",
        help="fail (exit 1) as soon as more than N lines are rejected (default: no limit)",
    )
    r.add_argument("--min-coverage", **_MIN_COVERAGE)
    r.set_defaults(func=cmd_replay)

    g = command(
        "generate",
        "Write a realistic simulated event stream (contracts, probes, incidents, claims, "
        "tickets and some malformed lines) to a JSON Lines file.",
        "availability generate data/march.jsonl --month 2026-03 --services api,web",
    )
    g.add_argument("out", help="the JSON Lines file to write (its folder is created)")
    g.add_argument("--month", type=_month, default=Month(2026, 3), help="the first month, YYYY-MM")
    g.add_argument("--months", type=_positive, default=1, help="how many months to simulate")
    g.add_argument(
        "--services", default="api,web,worker", help="comma-separated names of the services"
    )
    g.add_argument(
        "--seed", type=int, default=7, help="the random seed: one seed, one stream, byte for byte"
    )
    g.add_argument(
        "--interval", type=_positive, default=60, help="seconds between two probes of a region"
    )
    g.set_defaults(func=cmd_generate)

    d = command(
        "demo",
        "The main job on embedded defaults: a local Kafka broker (unless "
        "$KAFKA_BOOTSTRAP_SERVERS is set), the worker and a simulated month; prints what "
        "billing would read and stores it for `availability report`.",
        "availability demo",
        "availability demo --offline --days 3",
    )
    d.add_argument("--month", type=_month, default=Month(2026, 3), help="the month, YYYY-MM")
    d.add_argument("--store", default=None, help=_STORE_HELP.format(none=""))
    d.add_argument(
        "-o",
        "--output-format",
        "--format",
        dest="format",
        choices=RECORD_FORMATS,
        default="table",
        help="table: columns for reading; json: one JSON array; jsonl: one JSON record per line",
    )
    d.add_argument(
        "--days",
        type=_count,
        default=None,
        help="days of probes in the simulated month (default: all of it; incidents, claims "
        "and tickets cover it all)",
    )
    d.add_argument(
        "--offline",
        action="store_true",
        help="replay the month in-process instead of running it through Kafka and a worker",
    )
    d.set_defaults(func=cmd_demo)

    m = command(
        "migrate",
        "Create or upgrade the ClickHouse tables; applying it twice changes nothing. "
        "--down-to N undoes the migrations after version N, newest first.",
        "availability migrate",
        "availability migrate --store http://default:secret@clickhouse:8123/availability",
        "availability migrate --down-to 6",
    )
    m.add_argument("--store", default=None, help=_STORE_HELP.format(none=""))
    m.add_argument(
        "--down-to",
        type=_count,
        default=None,
        metavar="N",
        help="undo every applied migration above version N (0: all of them; their data is "
        "dropped) instead of applying the pending ones",
    )
    m.set_defaults(func=cmd_migrate)

    rp = command(
        "report",
        "The monthly SLA report of one contract: uptime, downtime periods, exclusions, "
        "credit and claim decisions, from the store (or a running worker).",
        "availability report --contract PO-1001 --month 2026-03",
        "availability report --contract PO-1001 --month 2026-03 --format html "
        "--output PO-1001.html",
    )
    rp.add_argument(
        "--contract", required=True, help="the contract (Purchase Order) id, e.g. PO-1001"
    )
    rp.add_argument(
        "--month", type=_month, required=True, help="the month in the contract's timezone, YYYY-MM"
    )
    rp.add_argument(
        "-o",
        "--output-format",
        "--format",
        dest="format",
        choices=("table", "json", "jsonl", "csv", "html"),
        default="table",
        help="table for a terminal, json (or jsonl: on one line) for programs, csv for "
        "spreadsheets, html to send",
    )
    rp.add_argument("--store", default=None, help=_STORE_HELP.format(none=""))
    rp.add_argument(
        "--output", default=None, metavar="FILE", help="write to FILE instead of stdout"
    )
    rp.add_argument(
        "--worker",
        default=None,
        metavar="URL",
        help="read from a running worker's HTTP API, e.g. http://127.0.0.1:6066, instead of "
        "the store",
    )
    rp.add_argument(
        "--audience",
        choices=("internal", "customer"),
        default="internal",
        help="customer leaves out the readings (other readings of the SLA text, for "
        "disputes); internal keeps them, each explained",
    )
    rp.add_argument("--min-coverage", **_MIN_COVERAGE)
    rp.set_defaults(func=cmd_report)

    t = command(
        "topics",
        "Create the Kafka topics of the registry that are missing; existing ones are kept.",
        "availability topics --bootstrap localhost:9092",
    )
    t.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
    t.set_defaults(func=cmd_topics)

    pr = command(
        "produce",
        "Send a JSON Lines file of events into the input topics, keyed as the topic registry "
        "says; a line that cannot be routed is sent on for dead-lettering.",
        "availability produce data/march.jsonl --bootstrap localhost:9092",
    )
    pr.add_argument("events", help="the JSON Lines file of events ('-' reads stdin)")
    pr.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
    pr.set_defaults(func=cmd_produce)

    w = command(
        "worker",
        "Run the streaming worker: probes folded into minute states, statements, claims and "
        "tickets; serves /health, the statements API and /metrics.",
        "availability worker --bootstrap localhost:9092 --store chdb:///var/lib/availability",
    )
    w.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
    w.add_argument(
        "--app-id", default="availability", help="the consumer group and the prefix of its tables"
    )
    w.add_argument(
        "--web-host",
        default="127.0.0.1",
        help="the address the HTTP API listens on (beyond loopback only with an API token)",
    )
    w.add_argument("--web-port", type=int, default=6066, help="the port of the HTTP API")
    w.add_argument(
        "--store",
        default=None,
        help="the ClickHouse store to write outputs to: chdb:///path, "
        "http://user:pass@host:8123/db, or none (default: $AVAILABILITY_STORE, the config "
        "file's store, else none)",
    )
    w.add_argument(
        "--as-of",
        type=_as_of,
        default=None,
        help=f"a fixed clock for simulations and tests, {_INSTANT}, or a date YYYY-MM-DD for "
        "its 00:00:00Z (default: the system clock)",
    )
    w.add_argument(
        "--clock-start",
        type=_instant,
        default=None,
        help="a clock that starts at this instant and runs at real speed (simulations)",
    )
    w.add_argument(
        "--loglevel",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="the least severe log lines printed",
    )
    w.set_defaults(func=cmd_worker)

    pb = command(
        "probe",
        "Check every target URL concurrently each interval and publish one probe event per "
        "target (ok false on a connection error, a timeout or an unexpected status).",
        "availability probe --targets targets.jsonl --region eu-west-1 --once --dry-run",
    )
    pb.add_argument(
        "--targets",
        required=True,
        metavar="FILE",
        help='JSON Lines (or one JSON list) of targets, e.g. {"service": "api", '
        '"url": "https://api.example.com/health", "expect_status": 200}; expect_status '
        "(a code or a list) defaults to any 2xx",
    )
    pb.add_argument(
        "--region",
        required=True,
        help="where this prober runs, e.g. eu-west-1 (the probe's region)",
    )
    pb.add_argument("--interval", type=float, default=60.0, help="seconds between two rounds")
    pb.add_argument("--timeout", type=float, default=5.0, help="seconds before a check fails")
    pb.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
    pb.add_argument("--once", action="store_true", help="one round, then exit")
    pb.add_argument(
        "--dry-run", action="store_true", help="print the events without publishing them"
    )
    pb.set_defaults(func=cmd_probe)

    from sla.model import Cause, Impact, IncidentStatus

    causes = [c.value for c in Cause]
    impacts = [i.value for i in Impact]
    statuses = [s.value for s in IncidentStatus]
    inc = command(
        "incident",
        "Declare or change an incident: reads its revisions already on Kafka and publishes "
        "the next one.",
        "availability incident declare --incident INC-7 --services api,web "
        '--started-at 2026-03-10T09:58:00Z --title "API 503s"',
        "availability incident reclassify --incident INC-7 --cause aws",
    )
    isub = inc.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text, example in (
        (
            "declare",
            "revision 0 of a new incident",
            "availability incident declare --services api --started-at 2026-03-10T09:58:00Z",
        ),
        (
            "update",
            "the next revision with the given fields changed",
            "availability incident update --incident INC-7 --ended-at 2026-03-10T10:41:00Z",
        ),
        (
            "reclassify",
            "the next revision with a new cause",
            "availability incident reclassify --incident INC-7 --cause aws",
        ),
        (
            "retract",
            "the next revision with status retracted (it covers no minute)",
            "availability incident retract --incident INC-7",
        ),
    ):
        a = isub.add_parser(
            name,
            help=help_text,
            description=f"Publish {help_text}.",
            epilog=f"example:\n  {example}\n\n{EXIT_CODES}",
            formatter_class=_HelpFormatter,
            parents=[common],
        )
        a.add_argument(
            "--incident",
            required=name != "declare",
            default=None,
            help="the incident id, e.g. INC-7"
            + (" (default: a new one)" if name == "declare" else ""),
        )
        a.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
        a.add_argument(
            "--recorded-at",
            type=_instant,
            default=None,
            help=f"when this revision became known, {_INSTANT} (default: now)",
        )
        if name in ("declare", "update"):
            a.add_argument(
                "--services",
                type=_services,
                required=name == "declare",
                default=None,
                help="the affected services, comma-separated, e.g. api,web",
            )
            a.add_argument(
                "--started-at",
                type=_instant,
                default=None,
                help=f"when it started, {_INSTANT}"
                + (" (default: now)" if name == "declare" else ""),
            )
            a.add_argument(
                "--ended-at", type=_instant, default=None, help=f"when it ended, {_INSTANT}"
            )
            a.add_argument(
                "--cause",
                choices=causes,
                default="internal" if name == "declare" else None,
                help="what caused it (aws and force_majeure are excluded from downtime)",
            )
            a.add_argument(
                "--impact",
                choices=impacts,
                default="outage" if name == "declare" else None,
                help="how much it affected the services",
            )
            a.add_argument("--status", choices=statuses, default=None, help="the incident's status")
            a.add_argument("--title", default=None, help='a short title, e.g. "API 503s"')
        if name == "update":
            a.add_argument("--reopen", action="store_true", help="clear ended_at (status open)")
        if name == "reclassify":
            a.add_argument("--cause", choices=causes, required=True, help="the new cause, e.g. aws")
        a.set_defaults(func=cmd_incident)

    cl = command(
        "claim",
        'Record an "SLA Credit Request" as it arrived, a wrong subject or a late date included '
        "(the worker judges it).",
        "availability claim --contract PO-1001 --submitted-at 2026-04-02T09:15:00Z "
        '--subject "SLA Credit Request" --interval 2026-03-10T09:58:00Z/2026-03-10T10:41:00Z',
    )
    cl.add_argument(
        "--contract", required=True, help="the contract (Purchase Order) id, e.g. PO-1001"
    )
    cl.add_argument(
        "--submitted-at",
        type=_instant,
        default=None,
        help=f"when the email arrived, {_INSTANT} (default: now)",
    )
    cl.add_argument("--subject", required=True, help="the email's subject, as received")
    cl.add_argument(
        "--interval",
        action="append",
        required=True,
        metavar="START/END",
        help="one claimed incident, two RFC 3339 instants, e.g. "
        "2026-03-10T09:58:00Z/2026-03-10T10:41:00Z; repeat for several",
    )
    cl.add_argument(
        "--claim-id",
        default=None,
        help="the claim's id: recording one email twice with one id counts once "
        "(default: a new one)",
    )
    cl.add_argument("--contact", default=None, help="who sent it, e.g. an email address")
    cl.add_argument("--notes", default=None, help="free text kept with the claim")
    cl.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
    cl.add_argument("--dry-run", action="store_true", help="print the event without publishing it")
    cl.set_defaults(func=cmd_claim)

    bl = command(
        "billing",
        "The reference billing consumer: keeps the latest statement of every contract-month "
        "and prints the current credits, then each change, until stopped.",
        "availability billing --once --format jsonl",
    )
    bl.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
    bl.add_argument("--group", default="availability-billing", help="the Kafka consumer group id")
    bl.add_argument(
        "--state",
        default=None,
        metavar="FILE",
        help="the JSON state file, kept between runs (default: DATA/billing-state.json)",
    )
    bl.add_argument(
        "-o",
        "--output-format",
        "--format",
        dest="format",
        choices=("table", "jsonl"),
        default="table",
        help="table: columns for reading; jsonl: one JSON record per line",
    )
    bl.add_argument("--once", action="store_true", help="read to the end, print the credits, exit")
    bl.set_defaults(func=cmd_billing)
    from streams import cli_store

    nested = cli_store.add_parsers(command, common)
    for parser in [*sub.choices.values(), *isub.choices.values(), *nested]:
        _name_values(parser)
    return p


def _name_values(parser: argparse.ArgumentParser) -> None:
    """Metavars that say what a value looks like (INSTANT, DSN, YYYY-MM, HOST:PORT)."""
    for action in parser._actions:
        if action.metavar is not None or not action.option_strings or action.choices:
            continue
        if action.type is _instant or action.type is _as_of:
            action.metavar = "INSTANT"
        elif action.type is _month:
            action.metavar = "YYYY-MM"
        elif action.dest == "store":
            action.metavar = "DSN"
        elif action.dest == "bootstrap":
            action.metavar = "HOST:PORT"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("availability-pipeline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (see :data:`EXIT_CODES`).

    Every failure is printed as one line, ``availability COMMAND: what failed
    (what to do)``, unless ``--debug`` asks for the traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    quieted: dict[str, int] = {}
    if not args.debug and args.command != "worker":
        # the drivers log each failure before raising it; the one-line message says it once
        for noisy in ("clickhouse_connect", "kafka"):
            quieted[noisy] = logging.getLogger(noisy).level
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
    name = " ".join(
        str(part) for part in (args.command, getattr(args, "action", None)) if part is not None
    )
    try:
        from streams.config import configure

        configure(args)
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader of a pipe stopped (`| head`): as for any Unix tool, no message
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:
        if args.debug:
            raise
        err = explain(exc, args)
        print(f"availability {name}: {err.message}", file=sys.stderr)
        return err.code
    finally:
        for noisy, level in quieted.items():
            logging.getLogger(noisy).setLevel(level)
    return rc


if __name__ == "__main__":
    # run as `python -m streams.cli`: the commands of other modules import
    # streams.cli, so dispatch through that module, not this __main__ copy
    from streams.cli import main as _main

    sys.exit(_main())

__all__ = ["json", "main"]
