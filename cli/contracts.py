"""``availability contracts list|apply``: the contracts in the store, or a contract file sent.

``contracts apply`` publishes contract revisions read from a file
(:mod:`tools.contracts`), validated by the wire model first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.args import add_bootstrap
from cli.broker import bootstrap, kafka_client
from cli.errors import EXIT_USAGE, CliError
from cli.help import Subparsers, action, command
from cli.output import contract_rows
from cli.store import add_listing_options, opened_store, print_listing
from sinks import queries
from streams import topics
from tools import contracts
from tools.operator import dumps
from tools.produce import EventPublisher, read_topic


def register(subparsers: Subparsers) -> None:
    """Add ``contracts`` and its actions."""
    ct = command(
        subparsers,
        "contracts",
        "List the contracts the store knows, or apply a contract file: validated by the wire "
        "model and sent as the next revision, like `availability incident` does.",
        "availability contracts list",
        "availability contracts apply -f contracts/PO-1001.yaml",
    )
    cts = ct.add_subparsers(dest="action", required=True, metavar="ACTION")
    cls = action(cts, "list", "every contract: its latest revision and terms",
                 "availability contracts list -o json")  # fmt: skip
    cls.add_argument("--contract", default=None, help="only this contract (Purchase Order) id")
    ap = action(cts, "apply", "publish the next revision of the contracts in a file",
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
    add_bootstrap(ap)
    ap.add_argument(
        "--dry-run", action="store_true", help="validate the file only: nothing is read or sent"
    )
    add_listing_options(cls)
    ct.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the contracts, or apply a contract file."""
    if args.action == "apply":
        return _apply(args)
    with opened_store(args) as store:
        records = queries.contracts(store, contract_id=args.contract)
    print_listing(records, args, contract_rows)
    return 0


def _apply(args: argparse.Namespace) -> int:
    """Publish the next revision of every contract in ``args.file`` that changed."""
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
        servers = bootstrap(args)
        client = kafka_client()
        topics.ensure_topics(servers, **client)
        recorded = (m.value for m in read_topic(servers, topics.CONTRACTS.name, **client))
        applied = contracts.apply(docs, path, recorded)
    except contracts.ContractFileError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    changed = [a for a in applied if a.event is not None]
    if changed:
        with EventPublisher(servers, client_id="availability-contracts", **client) as pub:
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
