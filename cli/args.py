"""The value types and option groups that several commands share.

A type parser turns one argument into its value or refuses it with a
sentence (:class:`argparse.ArgumentTypeError`); an ``add_*`` function adds
one option, with the same name, metavar and help wherever it appears.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from reports.explain import parse_percent
from sla.months import Month
from sla.timeutil import parse_instant

#: How an instant is written, for the help of the options that take one.
INSTANT = "an RFC 3339 instant with its offset, for example 2026-04-11T00:00:00Z"

_STORE_HELP = (
    "the ClickHouse store: chdb:///path (embedded), http://user:pass@host:8123/db (a server)"
    "{none} (default: $AVAILABILITY_STORE, the config file's store, else the embedded store "
    "under the data directory)"
)
_BOOTSTRAP_HELP = (
    "Kafka bootstrap servers, host:port[,host:port] (default: $KAFKA_BOOTSTRAP_SERVERS)"
)


# -- value types ------------------------------------------------------------------


def instant(text: str) -> datetime:
    """An RFC 3339 instant with its offset."""
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc} (expected an RFC 3339 instant with its offset, e.g. 2026-04-11T00:00:00Z)"
        ) from exc


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def as_of(text: str) -> datetime:
    """An instant, or a calendar date meaning its first instant in UTC (a clock, not a month)."""
    if _DATE.fullmatch(text.strip()):
        return instant(text.strip() + "T00:00:00Z")
    return instant(text)


def month(text: str) -> Month:
    """A month, YYYY-MM."""
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (a month is YYYY-MM, e.g. 2026-03)") from exc


def positive(text: str) -> int:
    """A whole number >= 1."""
    value = count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, got 0")
    return value


def count(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def percent(text: str) -> Decimal:
    """A percentage, as :func:`reports.explain.parse_percent` reads it."""
    try:
        return parse_percent(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- option groups ----------------------------------------------------------------


def add_bootstrap(parser: argparse.ArgumentParser) -> None:
    """``--bootstrap HOST:PORT``: the Kafka brokers of a command that talks to Kafka."""
    parser.add_argument("--bootstrap", default=None, help=_BOOTSTRAP_HELP)


def add_contract(parser: argparse.ArgumentParser) -> None:
    """``--contract ID``, required: the one contract a command is about."""
    parser.add_argument(
        "--contract", required=True, help="the contract (Purchase Order) id, e.g. PO-1001"
    )


def add_store(parser: argparse.ArgumentParser, none: str = "", help: str | None = None) -> None:
    """``--store DSN``; ``none`` adds what ``none`` means to the help, ``help`` replaces it."""
    parser.add_argument("--store", default=None, help=help or _STORE_HELP.format(none=none))


def add_as_of(parser: argparse.ArgumentParser, what: str, default: str) -> None:
    """``--as-of INSTANT``, an instant or a date; ``what`` it sets and its ``default`` clock."""
    parser.add_argument(
        "--as-of",
        type=as_of,
        default=None,
        help=f"{what}, {INSTANT}, or a date YYYY-MM-DD for its 00:00:00Z (default: {default})",
    )


def add_format(
    parser: argparse.ArgumentParser, choices: Sequence[str], default: str | None, help: str
) -> None:
    """``-o``/``--output-format`` (or the older ``--format``): how the records print."""
    parser.add_argument(
        "-o",
        "--output-format",
        "--format",
        dest="format",
        choices=tuple(choices),
        default=default,
        help=help,
    )


def add_min_coverage(parser: argparse.ArgumentParser) -> None:
    """``--min-coverage PCT`` of replay and report, for month-end checks in scripts."""
    parser.add_argument(
        "--min-coverage",
        type=percent,
        default=None,
        metavar="PCT",
        help="after the output, fail (exit 1) naming every contract-month whose monitoring "
        "coverage (elapsed minutes with data) is below PCT percent",
    )


def name_values(parser: argparse.ArgumentParser) -> None:
    """Metavars that say what a value looks like (INSTANT, DSN, YYYY-MM, HOST:PORT)."""
    for action in parser._actions:
        if action.metavar is not None or not action.option_strings or action.choices:
            continue
        if action.type is instant or action.type is as_of:
            action.metavar = "INSTANT"
        elif action.type is month:
            action.metavar = "YYYY-MM"
        elif action.dest == "store":
            action.metavar = "DSN"
        elif action.dest == "bootstrap":
            action.metavar = "HOST:PORT"
