"""Opening the ClickHouse store for a command, and printing what a listing read from it.

``statements``, ``claims``, ``tickets`` and ``contracts list`` read the store
through :mod:`sinks.queries`; their records have the field names and types of
the pipeline's outputs and print as a table on a terminal and JSON Lines into
a pipe (``-o`` for ``json`` or ``csv``). ``statements`` and ``claims`` are one
``list|show`` command over two kinds of record (:class:`RecordKind`,
:func:`list_or_show`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cli.args import add_format, add_store
from cli.errors import EXIT_USAGE, CliError, redact_dsn, store_of
from cli.output import print_records
from cli.settings import default_store
from sinks.store import connect
from sla.model import JSON

LIST_FORMATS = ("table", "json", "jsonl", "csv")


class _NativeStderr:
    """File descriptor 2 into a temporary file while the block runs.

    The embedded engine (chDB) writes its own errors straight to fd 2, past
    Python; captured, they become part of one message instead of a second,
    unexplained line. :meth:`text` reads what was written.
    """

    def __enter__(self) -> _NativeStderr:
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def text(self) -> str:
        self._file.seek(0)
        return self._file.read().decode("utf-8", errors="replace")

    def __exit__(self, *exc: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.close()


def _connect_embedded(dsn: str) -> Any:
    """:func:`sinks.store.connect` on a chdb DSN, the engine's own output captured."""
    with _NativeStderr() as native:
        try:
            store = connect(dsn)
        except ValueError:
            raise
        except Exception:
            said = native.text()
            if "Cannot lock file" in said or "already running" in said:
                raise CliError(
                    f"the embedded store at {redact_dsn(dsn)} is in use by another process "
                    "(a running worker or demo): stop it first, or read from the running "
                    "worker with --worker URL"
                ) from None
            raise
        said = native.text()
    if said:  # nothing went wrong: whatever the engine said is shown as it was
        sys.stderr.write(said)
    return store


def open_store(arg: str | None) -> Any:
    """A store on ``arg`` (default: the embedded one); a bad DSN is a usage error."""
    dsn = arg or default_store()
    try:
        return _connect_embedded(dsn) if dsn.startswith("chdb:") else connect(dsn)
    except ValueError as exc:
        raise CliError(
            f"bad --store {redact_dsn(dsn)}: {exc} (for example chdb:///var/lib/availability, "
            "http://user:pass@clickhouse:8123/availability, or none)",
            EXIT_USAGE,
        ) from None


@contextmanager
def opened_store(args: argparse.Namespace) -> Iterator[Any]:
    """The store of ``args.store`` while the block runs, closed after."""
    store = open_store(args.store)
    try:
        yield store
    finally:
        store.close()


def print_listing(
    records: list[JSON], args: argparse.Namespace, table: Callable[[list[JSON]], str]
) -> None:
    """Print a listing in ``args.format``; an empty table says that nothing matched."""
    fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    if fmt == "table" and not records:
        print(f"nothing in the store at {store_of(args)} matches", file=sys.stderr)
        return
    print_records(records, fmt, table=table)


@dataclass(frozen=True)
class RecordKind:
    """A kind of record a ``list|show`` command reads from the store, and how it prints.

    ``select`` and ``find`` take the open store and the parsed arguments:
    ``select`` returns the records ``list`` prints as ``rows``, ``find`` the
    record(s) ``show`` prints as ``view``, or raises :class:`CliError` when
    there is none to show.
    """

    select: Callable[[Any, argparse.Namespace], list[JSON]]
    rows: Callable[[list[JSON]], str]
    find: Callable[[Any, argparse.Namespace], list[JSON]]
    view: Callable[[list[JSON]], str]


def list_or_show(args: argparse.Namespace, kind: RecordKind) -> int:
    """Run ``list`` or ``show`` (``args.action``) on records of ``kind``; the exit status."""
    with opened_store(args) as store:
        if args.action == "list":
            records, table = kind.select(store, args), kind.rows
        else:
            records, table = kind.find(store, args), kind.view
    print_listing(records, args, table)
    return 0


def add_listing_options(parser: argparse.ArgumentParser) -> None:
    """``--store`` and ``-o`` of an action that lists what the store holds."""
    add_store(parser)
    add_format(
        parser,
        LIST_FORMATS,
        None,
        "table: columns for reading; json: one JSON array; jsonl: one JSON record per "
        "line; csv: a header and a row per record (default: table on a terminal, jsonl "
        "when piped)",
    )


def month_text(value: Any) -> str | None:
    """A ``--month`` as the queries take it (``None``: any month)."""
    return None if value is None else str(value)
