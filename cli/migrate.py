"""``availability migrate``: create or upgrade the ClickHouse tables, or undo migrations."""

from __future__ import annotations

import argparse
import sys

from cli.args import add_store, count
from cli.errors import CliError
from cli.help import Subparsers, command
from cli.store import open_store
from sinks.migrate import load_migrations


def register(subparsers: Subparsers) -> None:
    """Add ``migrate``."""
    m = command(
        subparsers,
        "migrate",
        "Create or upgrade the ClickHouse tables; applying it twice changes nothing. "
        "--down-to N undoes the migrations after version N, newest first.",
        "availability migrate",
        "availability migrate --store http://default:secret@clickhouse:8123/availability",
        "availability migrate --down-to 6",
    )
    add_store(m)
    m.add_argument(
        "--down-to",
        type=count,
        default=None,
        metavar="N",
        help="undo every applied migration above version N (0: all of them; their data is "
        "dropped) instead of applying the pending ones",
    )
    m.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Apply the pending migrations (or revert to ``--down-to``); say which."""
    store = open_store(args.store)
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
