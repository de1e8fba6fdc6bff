"""``availability topics``: create the Kafka topics that are missing."""

from __future__ import annotations

import argparse
import sys

from cli.args import add_bootstrap
from cli.broker import bootstrap, kafka_client
from cli.help import Subparsers, command
from streams.topics import ensure_topics


def register(subparsers: Subparsers) -> None:
    """Add ``topics``."""
    t = command(
        subparsers,
        "topics",
        "Create the Kafka topics of the registry that are missing; existing ones are kept.",
        "availability topics --bootstrap localhost:9092",
    )
    add_bootstrap(t)
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create the missing topics; say which."""
    created = ensure_topics(bootstrap(args), **kafka_client())
    print(
        f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""),
        file=sys.stderr,
    )
    return 0
