"""``availability tickets list``: the support tickets and their first-response verdicts."""

from __future__ import annotations

import argparse

from cli.args import month
from cli.help import Subparsers, action, command
from cli.output import ticket_rows
from cli.store import add_listing_options, month_text, opened_store, print_listing
from sinks import queries


def register(subparsers: Subparsers) -> None:
    """Add ``tickets`` and its action."""
    tk = command(
        subparsers,
        "tickets",
        "List the support tickets in the store with their first-response verdicts.",
        "availability tickets list --client acme --status breached",
    )
    ts = tk.add_subparsers(dest="action", required=True, metavar="ACTION")
    tl = action(ts, "list", "the latest verdict of every ticket (met, breached, open)",
                "availability tickets list --month 2026-03 --severity high")  # fmt: skip
    tl.add_argument("--client", default=None, help="only the tickets of this client id")
    tl.add_argument(
        "--month",
        type=month,
        default=None,
        help="only the tickets opened in this UTC month, YYYY-MM",
    )
    tl.add_argument(
        "--status", choices=queries.TICKET_STATUSES, default=None, help="only this verdict"
    )
    tl.add_argument(
        "--severity", choices=("low", "medium", "high"), default=None, help="only this severity"
    )
    add_listing_options(tl)
    tk.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the tickets that match."""
    with opened_store(args) as store:
        records = queries.tickets(
            store,
            client_id=args.client,
            month=month_text(args.month),
            status=args.status,
            severity=args.severity,
        )
    print_listing(records, args, ticket_rows)
    return 0
