"""``./dev demo``: the whole pipeline on a simulated month, on embedded defaults."""

from __future__ import annotations

import argparse
import sys

from cli import replay
from cli.args import add_format, add_store, count, month
from cli.help import Subparsers, command
from cli.output import RECORD_FORMATS, replay_table
from cli.settings import data_dir
from devkit.simulate import Scenario, default_as_of, write_jsonl
from sla.months import Month


def register(subparsers: Subparsers) -> None:
    """Add ``demo``."""
    d = command(
        subparsers,
        "demo",
        "The main job on embedded defaults: a local Kafka broker (unless "
        "$KAFKA_BOOTSTRAP_SERVERS is set), the worker and a simulated month; prints what "
        "billing would read and stores it for `availability report`.",
        "./dev demo",
        "./dev demo --offline --days 3",
    )
    d.add_argument("--month", type=month, default=Month(2026, 3), help="the month, YYYY-MM")
    add_store(d)
    add_format(
        d,
        RECORD_FORMATS,
        "table",
        "table: columns for reading; json: one JSON array; jsonl: one JSON record per line",
    )
    d.add_argument(
        "--days",
        type=count,
        default=None,
        help="days of probes in the simulated month (default: all of it; incidents, claims "
        "and tickets cover it all)",
    )
    d.add_argument(
        "--offline",
        action="store_true",
        help="replay the month in-process instead of running it through Kafka and a worker",
    )
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate a month and run it through the live pipeline (or replay it, ``--offline``)."""
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
        return replay.run(ns)
    # lazy: the live demo reads its events with the replay's reader (numpy and the rules)
    from devkit.demo import DemoError, run_live_demo

    try:
        run_live_demo(events, as_of, store, d, sys.stdout, replay_table, fmt=args.format)
    except DemoError as exc:
        print(f"./dev demo: {exc}", file=sys.stderr)
        return 1
    if args.store is None:
        print(
            f"demo: the statements are in {store}; e.g. availability report --store {store} "
            f"--contract PO-1001 --month {sc.month}",
            file=sys.stderr,
        )
    return 0
