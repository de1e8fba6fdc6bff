"""Exit statuses and the one-line message of every failure a command lets through."""

from __future__ import annotations

import argparse
import os
import re
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse

from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError

from cli.settings import default_store
from sinks.migrate import MigrationError
from streams.config import ConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

EXIT_CODES = """\
exit status:
  0  success
  1  failure: a store, broker or worker cannot be reached or refuses; nothing valid read
  2  bad usage or unreadable input
A failure is one line on stderr saying what failed and what to do; --debug
prints its traceback instead."""


class CliError(Exception):
    """A failure the user can act on.

    ``message`` says what failed and what to do about it; ``code`` is the exit
    status (:data:`EXIT_FAILURE` or :data:`EXIT_USAGE`).
    """

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def redact_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***`` (fit for a message)."""
    parsed = urlparse(dsn)
    if parsed.password is None:
        return dsn
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')\]]+|timed out|Connection refused|Read timed out")


def reason(exc: object) -> str:
    """The short cause of a driver error (the ``[Errno ...]`` part when there is one)."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip().rstrip(".")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def store_of(args: argparse.Namespace) -> str:
    """The store a command used, fit for a message."""
    store = getattr(args, "store", None)
    return redact_dsn(store if store and store != "none" else default_store())


def _bootstrap_of(args: argparse.Namespace) -> str:
    return str(getattr(args, "bootstrap", None) or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "?")


def explain(exc: BaseException, args: argparse.Namespace) -> CliError:
    """The one-line message and exit status for an error a command let through."""
    if isinstance(exc, CliError):
        return exc
    # lazy: the Kafka client library costs a tenth of a second at every start
    from kafka.errors import KafkaError

    if isinstance(exc, ConfigError):
        return CliError(str(exc), EXIT_USAGE)
    store = store_of(args)
    if isinstance(exc, OperationalError):
        return CliError(
            f"cannot reach the store at {store}: {reason(exc)} "
            "(is ClickHouse running there? check --store)"
        )
    if isinstance(exc, DatabaseError) and re.search(r"UNKNOWN_(DATABASE|TABLE)", str(exc)):
        return CliError(
            f"the store at {store} has no tables yet: run `availability migrate"
            + (f" --store {store}`" if getattr(args, "store", None) else "`")
            + " first"
        )
    if isinstance(exc, MigrationError):
        return CliError(f"cannot migrate the store at {store}: {exc}")
    if isinstance(exc, ClickHouseError):
        return CliError(f"the store at {store} refused: {reason(exc)}")
    if isinstance(exc, KafkaError):
        return CliError(
            f"cannot use Kafka at {_bootstrap_of(args)}: {reason(exc)} "
            "(is the broker running? check --bootstrap, KAFKA_BOOTSTRAP_SERVERS and KAFKA_*)"
        )
    if isinstance(exc, HTTPError):
        hint = " (set AVAILABILITY_API_TOKEN_FILE to the worker's token)" if exc.code == 401 else ""
        return CliError(
            f"the worker at {getattr(args, 'worker', '?')} answered HTTP {exc.code}{hint}"
        )
    if isinstance(exc, URLError):
        worker = getattr(args, "worker", None) or "the worker"
        return CliError(
            f"cannot reach the worker at {worker}: {reason(exc.reason)} "
            "(is `availability worker` running there? check --worker)"
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return CliError(f"{exc.strerror or exc}{':' if where else ''}{where}")
    return CliError(
        f"unexpected error: {type(exc).__name__}: {reason(exc)} "
        "(rerun with --debug for the traceback)"
    )
