"""``availability produce``: send a file of events into Kafka."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.args import add_bootstrap
from cli.broker import bootstrap, kafka_client
from cli.help import Subparsers, command
from streams.topics import ensure_topics
from tools.produce import produce_lines


def register(subparsers: Subparsers) -> None:
    """Add ``produce``."""
    pr = command(
        subparsers,
        "produce",
        "Send a JSON Lines file of events into the input topics, keyed as the topic registry "
        "says; a line that cannot be routed is sent on for dead-lettering.",
        "availability produce data/march.jsonl --bootstrap localhost:9092",
    )
    pr.add_argument("events", help="the JSON Lines file of events ('-' reads stdin)")
    add_bootstrap(pr)
    pr.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send every line of ``args.events`` to its topic; count them by topic."""
    servers = bootstrap(args)
    client = kafka_client()
    try:
        fh = sys.stdin.buffer if args.events == "-" else Path(args.events).open("rb")  # noqa: SIM115 - the with below closes it
    except OSError as exc:
        print(f"availability produce: cannot read {args.events}: {exc}", file=sys.stderr)
        return 2
    with fh:
        ensure_topics(servers, **client)
        stats = produce_lines(fh, servers, **client)
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
