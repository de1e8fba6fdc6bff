"""How a store is named and opened: the DSN, its settings and the client.

``connect(dsn, **settings)`` (:mod:`sinks.store`) opens either the embedded
engine or a server through clickhouse-connect, with the same client API:

- ``chdb:///abs/path`` (an on-disk chDB engine), ``chdb://rel/path``
  (relative to the working directory), ``chdb://`` or ``chdb://memory``
  (in memory). One process may open one chDB path at a time, and another
  process cannot open it at all while this one holds it.
- ``http(s)://user:pass@host:8123/db`` (a ClickHouse server; the path names
  the database).

The database defaults to ``availability``; ``?database=name`` in the DSN or
``database=`` overrides it. Every statement names its database, so several
stores on one engine (one per database) do not interfere.

Every call to a server is bounded: ``connect_timeout`` (default 10 s) to
open a connection and ``send_receive_timeout`` (default 30 s, the driver's
own default is 300 s) for each read of the answer, from ``?connect_timeout=``
/ ``?send_receive_timeout=`` in the DSN or the settings of the same names.
The embedded engine runs in the calling thread and has no timeouts. The
client is synchronous: an event loop reaches the store through
:class:`sinks.writer.StoreWriter`, which owns it on a thread of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import clickhouse_connect

from sinks.secrets import read_secret

DEFAULT_DATABASE = "availability"
_SOURCE_MIGRATIONS = Path(__file__).resolve().parents[1] / "deploy" / "clickhouse"
# an installed wheel carries deploy/clickhouse as the package data sinks/migrations
DEFAULT_MIGRATIONS_DIR = (
    _SOURCE_MIGRATIONS
    if _SOURCE_MIGRATIONS.is_dir()
    else Path(__file__).resolve().parent / "migrations"
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class StoreSettings:
    """Everything ``connect`` accepts besides the DSN.

    ``ttl_days`` maps a table name to a retention in days (no entry: no TTL;
    billing tables should keep none). ``cluster`` switches the migrations to
    replicated and distributed tables. ``batch_rows``/``max_age_seconds``
    size the write batches; ``max_retries``/``backoff_seconds`` bound the
    retries before :class:`~sinks.buffer.BackpressureError` (their sleeps
    block the calling thread; :class:`sinks.writer.StoreWriter` sets no
    retries and waits on its event loop instead). ``connect_timeout`` and
    ``send_receive_timeout`` (whole seconds, as the driver takes them) bound
    every call to a server.
    """

    database: str = DEFAULT_DATABASE
    cluster: str | None = None
    ttl_days: Mapping[str, int] = field(default_factory=dict)
    dedup_window: int = 1000
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR
    batch_rows: int = 50_000
    max_age_seconds: float = 1.0
    max_retries: int = 3
    backoff_seconds: float = 0.2
    connect_timeout: int = 10
    send_receive_timeout: int = 30

    def __post_init__(self) -> None:
        if not _IDENT.match(self.database):
            raise ValueError(f"bad database name {self.database!r}")
        if self.cluster is not None and not _IDENT.match(self.cluster):
            raise ValueError(f"bad cluster name {self.cluster!r}")
        if self.dedup_window < 1:
            raise ValueError("dedup_window must be >= 1: retried batches rely on it")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        for name in ("connect_timeout", "send_receive_timeout"):
            value = getattr(self, name)
            # 0 would mean "no timeout" to the driver: a store that never answers
            # would hold its caller for ever
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number of seconds >= 1: {value!r}")
        for table, days in self.ttl_days.items():
            if not _IDENT.match(table) or int(days) < 1:
                raise ValueError(f"bad ttl {table!r}: {days!r}")

    @property
    def insert_settings(self) -> dict[str, Any]:
        """The settings of every insert: synchronous, and on a cluster forwarded to the shards."""
        out: dict[str, Any] = {"async_insert": 0}
        if self.cluster:
            # Forward the insert (and its token) to the shards synchronously.
            out["distributed_foreground_insert"] = 1
        return out


def _password(in_dsn: str | None) -> str:
    """The DSN's password, else ``CLICKHOUSE_PASSWORD_FILE`` / ``CLICKHOUSE_PASSWORD``.

    A secret file keeps the password out of the command line and the
    environment; it is never logged.
    """
    if in_dsn:
        return unquote(in_dsn)
    return read_secret("CLICKHOUSE_PASSWORD") or ""


#: DSN query parameters that are settings (whole seconds)
_DSN_TIMEOUTS = ("connect_timeout", "send_receive_timeout")


def check_dsn(dsn: str) -> None:
    """Raise ``ValueError`` unless :func:`sinks.store.connect` opens ``dsn``'s scheme (no I/O)."""
    scheme = urlparse(dsn).scheme
    if scheme not in ("chdb", "http", "https"):
        raise ValueError(f"unsupported store DSN scheme {scheme!r} (chdb, http, https)")


def _dsn_settings(dsn: str) -> dict[str, Any]:
    """The settings a DSN's query names (``database`` and the timeouts)."""
    query = {k: v[0] for k, v in parse_qs(urlparse(dsn).query).items()}
    out: dict[str, Any] = {}
    if "database" in query:
        out["database"] = query["database"]
    for name in _DSN_TIMEOUTS:
        if name in query:
            try:
                out[name] = int(query[name])
            except ValueError:
                raise ValueError(f"{name} in the store DSN must be whole seconds") from None
    return out


def open_client(dsn: str, cfg: StoreSettings) -> Any:
    """A clickhouse-connect client for ``dsn`` (for a server: bounded by ``cfg``'s timeouts)."""
    check_dsn(dsn)
    parsed = urlparse(dsn)
    if parsed.scheme == "chdb":
        rest = dsn[len("chdb://") :].split("?", 1)[0]
        # chdb:///abs -> "/abs"; chdb://rel/dir -> "rel/dir", resolved here so
        # every spelling of one directory reaches the engine as one path.
        memory = rest in ("", "memory", ":memory:")
        path = None if memory else str(Path(unquote(rest)).resolve())
        return clickhouse_connect.get_client(interface="chdb", path=path)
    return clickhouse_connect.get_client(
        interface=parsed.scheme,
        host=parsed.hostname or "localhost",
        port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
        username=unquote(parsed.username or "") or os.environ.get("CLICKHOUSE_USER", "default"),
        password=_password(parsed.password),
        connect_timeout=cfg.connect_timeout,
        send_receive_timeout=cfg.send_receive_timeout,
    )


def store_settings(dsn: str, **settings: Any) -> StoreSettings:
    """The settings of a store on ``dsn``: ``settings`` over the DSN's query over the defaults.

    For a server DSN without ``?database=``, its path names the database.
    Raises ``ValueError`` for a bad value (no I/O).
    """
    merged = {**_dsn_settings(dsn), **{k: v for k, v in settings.items() if v is not None}}
    parsed = urlparse(dsn)
    if "database" not in merged and parsed.scheme in ("http", "https"):
        path_db = parsed.path.strip("/")
        if path_db:
            merged["database"] = path_db
    if "migrations_dir" in merged:
        merged["migrations_dir"] = Path(merged["migrations_dir"])
    return StoreSettings(**merged)


__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_MIGRATIONS_DIR",
    "StoreSettings",
    "check_dsn",
    "open_client",
    "store_settings",
]
