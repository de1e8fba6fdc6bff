"""``availability claims list|show``: the decisions on credit claims in the store."""

from __future__ import annotations

import argparse
from typing import Any

from cli.errors import EXIT_USAGE, CliError, store_of
from cli.help import Subparsers, action, command
from cli.output import claim_rows, claim_view
from cli.store import RecordKind, add_listing_options, list_or_show
from sinks import queries
from sla.model import JSON


def register(subparsers: Subparsers) -> None:
    """Add ``claims`` and its actions."""
    cl = command(
        subparsers,
        "claims",
        "List the decisions on credit claims in the store, or show one with its intervals.",
        "availability claims list --contract PO-1001",
        "availability claims show CLM-1",
    )
    cs = cl.add_subparsers(dest="action", required=True, metavar="ACTION")
    cll = action(cs, "list", "the latest decision of every claim",
                 "availability claims list --decision rejected")  # fmt: skip
    cll.add_argument("--contract", default=None, help="only the claims on this contract id")
    cll.add_argument("--client", default=None, help="only the claims of this client id")
    cll.add_argument(
        "--decision", choices=queries.CLAIM_DECISIONS, default=None, help="only these decisions"
    )
    add_listing_options(cll)
    csh = action(cs, "show", "one claim's decision, interval by interval",
                 "availability claims show CLM-1 --contract PO-1001")  # fmt: skip
    csh.add_argument("claim", help="the claim id, e.g. CLM-1")
    csh.add_argument(
        "--contract", default=None, help="the contract, when one claim id was used on several"
    )
    add_listing_options(csh)
    cl.set_defaults(func=run)


def _select(store: Any, args: argparse.Namespace) -> list[JSON]:
    return queries.claims(
        store, contract_id=args.contract, decision=args.decision, client_id=args.client
    )


def _find(store: Any, args: argparse.Namespace) -> list[JSON]:
    found = queries.claim(store, args.claim, args.contract)
    if not found:
        raise CliError(f"no decision on claim {args.claim} in the store at {store_of(args)}")
    if len(found) > 1:
        raise CliError(
            f"claim {args.claim} was made against {len(found)} contracts "
            f"({', '.join(c['contract_id'] for c in found)}): name one with --contract",
            EXIT_USAGE,
        )
    return found


CLAIMS = RecordKind(select=_select, rows=claim_rows, find=_find, view=claim_view)


def run(args: argparse.Namespace) -> int:
    """List the claim decisions that match, or show one."""
    return list_or_show(args, CLAIMS)
