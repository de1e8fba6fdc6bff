"""``availability``: the top-level parser, assembled from one module per command, and main."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Protocol

from cli import (
    billing,
    claim,
    claims,
    contracts,
    incident,
    migrate,
    probe,
    produce,
    replay,
    report,
    statements,
    tickets,
    topics,
    worker,
)
from cli.args import name_values
from cli.errors import EXIT_CODES, EXIT_OK, explain
from cli.help import HelpFormatter, Subparsers, version
from streams.config import configure


class CommandModule(Protocol):
    """A module of one command: ``register`` adds its parser."""

    def register(self, subparsers: Subparsers) -> None: ...


#: Every command, in the order ``availability`` adds them.
COMMANDS = (
    replay,
    migrate,
    report,
    topics,
    produce,
    worker,
    probe,
    incident,
    claim,
    billing,
    statements,
    claims,
    tickets,
    contracts,
)

_TOP = """\
Availability SLA pipeline: probe results and incident reports in, monthly
uptime, service credits and claim decisions out.

commands, by who uses them:
  try it and report (billing, account managers)
    replay      compute statements from a file of events, offline
    migrate     create or upgrade the ClickHouse tables (idempotent), or --down-to N
    report      the monthly SLA report of one contract (table, json, csv, html)
    billing     follow the published statements: the credits per contract-month
  look up and change what the store holds (billing, account managers, support)
    statements  list the contract-month statements, or show one
    claims      list the decisions on credit claims, or show one
    tickets     list the support tickets and their first-response verdicts
    contracts   list the contracts and their terms, or apply a contract file
  run the service (operations)
    worker      the streaming worker on Kafka, with its HTTP API and metrics
    probe       check target URLs and publish probe events
    topics      create the Kafka topics (idempotent)
    produce     send a file of events into Kafka
  record what happened (on-call, support)
    incident    declare, update, reclassify or retract an incident
    claim       record an "SLA Credit Request" as it arrived

Run `availability COMMAND --help` for a command's options and an example.
A source checkout also has the development commands ./dev demo and
./dev generate (a simulated month, end to end or into a file)."""

_EPILOG = (
    "settings: a flag wins over the environment, which wins over the config file,\n"
    "which wins over the built-in default:\n"
    "  AVAILABILITY_STORE   the --store of every command (default: the embedded\n"
    "                       store under the data directory; none for the worker)\n"
    "  AVAILABILITY_DATA    the data directory (default: ./data)\n"
    "  AVAILABILITY_CONFIG  the config file (default: ./availability.toml if there\n"
    "                       is one): TOML with the keys store and data, e.g.\n"
    '                       store = "chdb://state/clickhouse"; relative paths in\n'
    "                       it are relative to its folder\n"
    "  KAFKA_BOOTSTRAP_SERVERS and KAFKA_* (Kafka), AVAILABILITY_TOPIC_PREFIX\n\n" + EXIT_CODES
)


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every command and action below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


#: The development commands of a source checkout (``devkit``, not in the wheel).
DEV_COMMANDS = ("demo", "generate")


def assemble(
    prog: str, description: str, epilog: str, commands: Sequence[CommandModule]
) -> argparse.ArgumentParser:
    """A parser named ``prog`` with ``--version``, ``--debug`` and one command per module."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument(
        "--debug",
        action="store_true",
        default=False,
        help="print the full traceback of a failure instead of its one-line message",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)
    for module in commands:
        module.register(sub)
    for parser in _parsers(p):
        name_values(parser)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The ``availability`` argument parser: every option with a sentence, defaults and examples."""
    return assemble("availability", _TOP, _EPILOG, COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (see :data:`cli.errors.EXIT_CODES`).

    Every failure is printed as one line, ``availability COMMAND: what failed
    (what to do)``, unless ``--debug`` asks for the traceback.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # the options before a command take no value: the first other word is the command
    named = next((a for a in argv if not a.startswith("-")), None)
    if named in DEV_COMMANDS:
        parser.error(
            f"{named} is a development command, not part of the installed tool: "
            f"run ./dev {named} from a source checkout"
        )
    return run(parser, argv)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run the command; return its exit status.

    A failure is one line, ``PROG COMMAND: what failed (what to do)``.
    """
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    quieted: dict[str, int] = {}
    if not args.debug and args.command != "worker":
        # the drivers log each failure before raising it; the one-line message says it once
        for noisy in ("clickhouse_connect", "kafka"):
            quieted[noisy] = logging.getLogger(noisy).level
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
    name = " ".join(
        str(part) for part in (args.command, getattr(args, "action", None)) if part is not None
    )
    try:
        configure(args)
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader of a pipe stopped (`| head`): as for any Unix tool, no message
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:
        if args.debug:
            raise
        err = explain(exc, args)
        print(f"{parser.prog} {name}: {err.message}", file=sys.stderr)
        return err.code
    finally:
        for noisy, level in quieted.items():
            logging.getLogger(noisy).setLevel(level)
    return rc
