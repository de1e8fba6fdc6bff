"""``availability statements list|show``: the contract-month statements in the store."""

from __future__ import annotations

import argparse
from typing import Any

from cli.args import count, month
from cli.errors import CliError, store_of
from cli.help import Subparsers, action, command
from cli.output import statement_rows, statement_view
from cli.store import RecordKind, add_listing_options, list_or_show, month_text
from sinks import queries
from sla.model import JSON


def register(subparsers: Subparsers) -> None:
    """Add ``statements`` and its actions."""
    st = command(
        subparsers,
        "statements",
        "List the contract-month statements in the store, or show one.",
        "availability statements list --month 2026-03 --status final",
        "availability statements show PO-1001 2026-03",
    )
    ss = st.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = action(ss, "list", "one line per contract-month, its latest revision",
                "availability statements list --contract PO-1001 -o csv")  # fmt: skip
    ls.add_argument("--contract", default=None, help="only this contract (Purchase Order) id")
    ls.add_argument("--client", default=None, help="only the contracts of this client id")
    ls.add_argument(
        "--month",
        type=month,
        default=None,
        help="only this month (in each contract's timezone), YYYY-MM",
    )
    ls.add_argument(
        "--status",
        choices=queries.STATEMENT_STATUSES,
        default=None,
        help="only the contract-months whose latest revision has this status",
    )
    ls.add_argument(
        "--all-revisions", action="store_true", help="every revision, not only the latest"
    )
    add_listing_options(ls)
    sh = action(ss, "show", "one whole statement, by default its latest revision",
                "availability statements show PO-1001 2026-03 --revision 0 -o json")  # fmt: skip
    sh.add_argument("contract", help="the contract (Purchase Order) id, e.g. PO-1001")
    sh.add_argument("month", type=month, help="the month in the contract's timezone, YYYY-MM")
    sh.add_argument(
        "--revision", type=count, default=None, help="this revision instead of the latest"
    )
    add_listing_options(sh)
    st.set_defaults(func=run)


def _select(store: Any, args: argparse.Namespace) -> list[JSON]:
    return queries.statements(
        store,
        contract_id=args.contract,
        month=month_text(args.month),
        status=args.status,
        client_id=args.client,
        all_revisions=args.all_revisions,
    )


def _find(store: Any, args: argparse.Namespace) -> list[JSON]:
    of_month = str(args.month)
    found = queries.statement(store, args.contract, of_month, args.revision)
    if found is None:
        stored = queries.revisions(store, args.contract, of_month)
        what = f"revision {args.revision} of " if args.revision is not None else ""
        have = f" (stored revisions: {', '.join(map(str, stored))})" if stored else ""
        raise CliError(
            f"no {what}statement {args.contract} {of_month} in the store at "
            f"{store_of(args)}{have or ' (replay or run the worker for that month first)'}"
        )
    return [found]


STATEMENTS = RecordKind(select=_select, rows=statement_rows, find=_find, view=statement_view)


def run(args: argparse.Namespace) -> int:
    """List the statements that match, or show one."""
    return list_or_show(args, STATEMENTS)
