"""``availability claim``: record an "SLA Credit Request" as it arrived."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from cli.args import INSTANT, add_bootstrap, add_contract, instant
from cli.broker import bootstrap, kafka_client
from cli.help import Subparsers, command
from tools import operator
from tools.produce import EventPublisher


def register(subparsers: Subparsers) -> None:
    """Add ``claim``."""
    cl = command(
        subparsers,
        "claim",
        'Record an "SLA Credit Request" as it arrived, a wrong subject or a late date included '
        "(the worker judges it).",
        "availability claim --contract PO-1001 --submitted-at 2026-04-02T09:15:00Z "
        '--subject "SLA Credit Request" --interval 2026-03-10T09:58:00Z/2026-03-10T10:41:00Z',
    )
    add_contract(cl)
    cl.add_argument(
        "--submitted-at",
        type=instant,
        default=None,
        help=f"when the email arrived, {INSTANT} (default: now)",
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
    add_bootstrap(cl)
    cl.add_argument("--dry-run", action="store_true", help="print the event without publishing it")
    cl.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the claim event; publish it unless ``--dry-run``, and print it."""
    submitted_at: datetime = args.submitted_at or datetime.now(UTC)
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
        with EventPublisher(
            bootstrap(args), client_id="availability-claim", **kafka_client()
        ) as pub:
            pub.send(ev)
    print(operator.dumps(ev))
    return 0
