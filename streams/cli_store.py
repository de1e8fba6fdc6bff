"""The ``availability`` commands that read the store or apply contracts.

``statements list|show``, ``claims list|show``, ``tickets list`` and
``contracts list`` read the ClickHouse store through :mod:`sinks.queries`;
their records have the field names and types of the pipeline's outputs and
print as a table on a terminal and JSON Lines into a pipe (``-o`` for
``json`` or ``csv``). ``contracts apply`` publishes contract revisions read
from a file (:mod:`streams.contracts`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streams import cli
from streams import cli_tables as tables

JSON = dict[str, Any]
Command = Callable[..., argparse.ArgumentParser]

LIST_FORMATS = ("table", "json", "jsonl", "csv")


@contextmanager
def _store(args: argparse.Namespace) -> Iterator[Any]:
    store = cli._open_store(args.store)
    try:
        yield store
    finally:
        store.close()


def _print(
    records: list[JSON], args: argparse.Namespace, table: Callable[[list[JSON]], str]
) -> None:
    fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    if fmt == "table" and not records:
        print(f"nothing in the store at {cli._store_of(args)} matches", file=sys.stderr)
        return
    cli.print_records(records, fmt, table=table)


def _month_text(value: Any) -> str | None:
    return None if value is None else str(value)


def cmd_statements(args: argparse.Namespace) -> int:
    from sinks import queries

    with _store(args) as store:
        if args.action == "list":
            records = queries.statements(
                store,
                contract_id=args.contract,
                month=_month_text(args.month),
                status=args.status,
                client_id=args.client,
                all_revisions=args.all_revisions,
            )
            _print(records, args, tables.statement_rows)
            return 0
        month = str(args.month)
        found = queries.statement(store, args.contract, month, args.revision)
        if found is None:
            stored = queries.revisions(store, args.contract, month)
            what = f"revision {args.revision} of " if args.revision is not None else ""
            have = f" (stored revisions: {', '.join(map(str, stored))})" if stored else ""
            raise cli.CliError(
                f"no {what}statement {args.contract} {month} in the store at "
                f"{cli._store_of(args)}{have or ' (replay or run the worker for that month first)'}"
            )
    _print([found], args, tables.statement_view)
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from sinks import queries

    with _store(args) as store:
        if args.action == "list":
            records = queries.claims(
                store, contract_id=args.contract, decision=args.decision, client_id=args.client
            )
            _print(records, args, tables.claim_rows)
            return 0
        found = queries.claim(store, args.claim, args.contract)
    if not found:
        raise cli.CliError(
            f"no decision on claim {args.claim} in the store at {cli._store_of(args)}"
        )
    if len(found) > 1:
        raise cli.CliError(
            f"claim {args.claim} was made against {len(found)} contracts "
            f"({', '.join(c['contract_id'] for c in found)}): name one with --contract",
            cli.EXIT_USAGE,
        )
    _print(found, args, tables.claim_view)
    return 0


def cmd_tickets(args: argparse.Namespace) -> int:
    from sinks import queries

    with _store(args) as store:
        records = queries.tickets(
            store,
            client_id=args.client,
            month=_month_text(args.month),
            status=args.status,
            severity=args.severity,
        )
    _print(records, args, tables.ticket_rows)
    return 0


def cmd_contracts(args: argparse.Namespace) -> int:
    if args.action == "apply":
        return _apply(args)
    from sinks import queries

    with _store(args) as store:
        records = queries.contracts(store, contract_id=args.contract)
    _print(records, args, tables.contract_rows)
    return 0


def _apply(args: argparse.Namespace) -> int:
    from streams import contracts, topics
    from streams.operator import dumps
    from streams.produce import EventPublisher, read_topic

    path = Path(args.file)
    try:
        docs = contracts.load_documents(path)
        if args.dry_run:
            for ev in contracts.validate(docs, path):
                shown = ev.model_dump(
                    mode="json", exclude={"event_id", "revision"}, exclude_none=True
                )
                print(dumps(shown))
            many = "s" if len(docs) != 1 else ""
            print(f"{len(docs)} contract{many} valid in {path}; nothing sent (--dry-run)",
                  file=sys.stderr)  # fmt: skip
            return 0
        contracts.validate(docs, path)  # a bad file fails before any broker is asked
        bootstrap = cli._bootstrap(args)
        client = cli._kafka_client()
        topics.ensure_topics(bootstrap, **client)
        recorded = (m.value for m in read_topic(bootstrap, topics.CONTRACTS.name, **client))
        applied = contracts.apply(docs, path, recorded)
    except contracts.ContractFileError as exc:
        raise cli.CliError(str(exc), cli.EXIT_USAGE) from None
    changed = [a for a in applied if a.event is not None]
    if changed:
        with EventPublisher(bootstrap, client_id="availability-contracts", **client) as pub:
            for a in changed:
                assert a.event is not None
                pub.send(a.event)
    for a in applied:
        if a.event is None:
            print(f"contract {a.contract_id} unchanged (revision {a.revision}); nothing sent",
                  file=sys.stderr)  # fmt: skip
        else:
            print(dumps(a.event))
            print(f"contract {a.contract_id} revision {a.revision} sent", file=sys.stderr)
    return 0


def _nested(
    sub: Any, common: argparse.ArgumentParser, name: str, summary: str, example: str
) -> argparse.ArgumentParser:
    """A command's action (``statements list``), with its help, example and exit codes."""
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=f"example:\n  {example}\n\n{cli.EXIT_CODES}",
        formatter_class=cli._HelpFormatter,
        parents=[common],
    )


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, help=cli._STORE_HELP.format(none=""))
    p.add_argument(
        "-o",
        "--output-format",
        "--format",
        dest="format",
        choices=LIST_FORMATS,
        default=None,
        help="table: columns for reading; json: one JSON array; jsonl: one JSON record per "
        "line; csv: a header and a row per record (default: table on a terminal, jsonl "
        "when piped)",
    )


def _month_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--month", type=cli._month, default=None, help=f"only {what}, YYYY-MM")


def add_parsers(command: Command, common: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Add ``statements``, ``claims``, ``tickets`` and ``contracts``; return their actions."""
    from sinks import queries

    actions: list[argparse.ArgumentParser] = []

    st = command(
        "statements",
        "List the contract-month statements in the store, or show one.",
        "availability statements list --month 2026-03 --status final",
        "availability statements show PO-1001 2026-03",
    )
    ss = st.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = _nested(ss, common, "list", "one line per contract-month, its latest revision",
                 "availability statements list --contract PO-1001 -o csv")  # fmt: skip
    ls.add_argument("--contract", default=None, help="only this contract (Purchase Order) id")
    ls.add_argument("--client", default=None, help="only the contracts of this client id")
    _month_arg(ls, "this month (in each contract's timezone)")
    ls.add_argument(
        "--status",
        choices=queries.STATEMENT_STATUSES,
        default=None,
        help="only the contract-months whose latest revision has this status",
    )
    ls.add_argument(
        "--all-revisions", action="store_true", help="every revision, not only the latest"
    )
    sh = _nested(ss, common, "show", "one whole statement, by default its latest revision",
                 "availability statements show PO-1001 2026-03 --revision 0 -o json")  # fmt: skip
    sh.add_argument("contract", help="the contract (Purchase Order) id, e.g. PO-1001")
    sh.add_argument("month", type=cli._month, help="the month in the contract's timezone, YYYY-MM")
    sh.add_argument(
        "--revision", type=cli._count, default=None, help="this revision instead of the latest"
    )
    st.set_defaults(func=cmd_statements)
    actions += [ls, sh]

    cl = command(
        "claims",
        "List the decisions on credit claims in the store, or show one with its intervals.",
        "availability claims list --contract PO-1001",
        "availability claims show CLM-1",
    )
    cs = cl.add_subparsers(dest="action", required=True, metavar="ACTION")
    cll = _nested(cs, common, "list", "the latest decision of every claim",
                  "availability claims list --decision rejected")  # fmt: skip
    cll.add_argument("--contract", default=None, help="only the claims on this contract id")
    cll.add_argument("--client", default=None, help="only the claims of this client id")
    cll.add_argument(
        "--decision", choices=queries.CLAIM_DECISIONS, default=None, help="only these decisions"
    )
    csh = _nested(cs, common, "show", "one claim's decision, interval by interval",
                  "availability claims show CLM-1 --contract PO-1001")  # fmt: skip
    csh.add_argument("claim", help="the claim id, e.g. CLM-1")
    csh.add_argument(
        "--contract", default=None, help="the contract, when one claim id was used on several"
    )
    cl.set_defaults(func=cmd_claims)
    actions += [cll, csh]

    tk = command(
        "tickets",
        "List the support tickets in the store with their first-response verdicts.",
        "availability tickets list --client acme --status breached",
    )
    ts = tk.add_subparsers(dest="action", required=True, metavar="ACTION")
    tl = _nested(ts, common, "list", "the latest verdict of every ticket (met, breached, open)",
                 "availability tickets list --month 2026-03 --severity high")  # fmt: skip
    tl.add_argument("--client", default=None, help="only the tickets of this client id")
    _month_arg(tl, "the tickets opened in this UTC month")
    tl.add_argument(
        "--status", choices=queries.TICKET_STATUSES, default=None, help="only this verdict"
    )
    tl.add_argument(
        "--severity", choices=("low", "medium", "high"), default=None, help="only this severity"
    )
    tk.set_defaults(func=cmd_tickets)
    actions.append(tl)

    ct = command(
        "contracts",
        "List the contracts the store knows, or apply a contract file: validated by the wire "
        "model and sent as the next revision, like `availability incident` does.",
        "availability contracts list",
        "availability contracts apply -f contracts/PO-1001.yaml",
    )
    cts = ct.add_subparsers(dest="action", required=True, metavar="ACTION")
    cls = _nested(cts, common, "list", "every contract: its latest revision and terms",
                  "availability contracts list -o json")  # fmt: skip
    cls.add_argument("--contract", default=None, help="only this contract (Purchase Order) id")
    ap = _nested(cts, common, "apply", "publish the next revision of the contracts in a file",
                 "availability contracts apply -f PO-1001.json --dry-run")  # fmt: skip
    ap.add_argument(
        "-f",
        "--file",
        required=True,
        metavar="FILE",
        help="a .json (an object or a list) or .yaml (one contract per document) file of "
        "contract fields without event_id and revision, as schemas/examples/contract.yaml "
        "shows and schemas/json/event.contract.schema.json defines",
    )
    ap.add_argument("--bootstrap", default=None, help=cli._BOOTSTRAP_HELP)
    ap.add_argument(
        "--dry-run", action="store_true", help="validate the file only: nothing is read or sent"
    )
    ct.set_defaults(func=cmd_contracts)
    actions += [cls, ap]
    for action in (ls, sh, cll, csh, tl, cls):
        _outputs(action)
    return actions
