"""``availability billing``: the reference billing consumer of the published statements."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.args import add_bootstrap, add_format
from cli.broker import bootstrap, kafka_client
from cli.help import Subparsers, command
from cli.settings import data_dir
from cli.signals import stop_on_sigterm
from sla.model import JSON
from tools.billing import CreditBook, print_rows, table
from tools.billing import run as run_billing


def register(subparsers: Subparsers) -> None:
    """Add ``billing``."""
    bl = command(
        subparsers,
        "billing",
        "The reference billing consumer: keeps the latest statement of every contract-month "
        "and prints the current credits, then each change, until stopped.",
        "availability billing --once --format jsonl",
    )
    add_bootstrap(bl)
    bl.add_argument("--group", default="availability-billing", help="the Kafka consumer group id")
    bl.add_argument(
        "--state",
        default=None,
        metavar="FILE",
        help="the JSON state file, kept between runs (default: DATA/billing-state.json)",
    )
    add_format(
        bl,
        ("table", "jsonl"),
        "table",
        "table: columns for reading; jsonl: one JSON record per line",
    )
    bl.add_argument("--once", action="store_true", help="read to the end, print the credits, exit")
    bl.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Follow the statements and claim decisions; print the credits as they change."""
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
        with stop_on_sigterm() as stop:
            book = run_billing(
                bootstrap(args), state, args.group, args.once, show, stop=stop, **kafka_client()
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
