"""The ClickHouse store: migrations, the buffered writer and the report queries.

``connect(dsn, **settings)`` opens either the embedded engine or a server
through clickhouse-connect, with the same client API:

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

Migrations are the ``NNNN_name.sql`` files of ``deploy/clickhouse/`` (or
``migrations_dir=``), rendered by :func:`render_migration` and recorded in
``schema_migrations``. With ``cluster=`` set, the same files yield
``Replicated*`` tables ``ON CLUSTER`` plus ``Distributed`` tables over them
(see ``docs/clickhouse.md``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.transform import NativeTransform

from sinks import rows as rw
from sinks.buffer import (
    BackpressureError,
    Clock,
    RetryPolicy,
    SinkStats,
    TableBuffer,
)

JSON = dict[str, Any]

DEFAULT_DATABASE = "availability"
_SOURCE_MIGRATIONS = Path(__file__).resolve().parents[1] / "deploy" / "clickhouse"
# an installed wheel carries deploy/clickhouse as the package data sinks/migrations
DEFAULT_MIGRATIONS_DIR = (
    _SOURCE_MIGRATIONS
    if _SOURCE_MIGRATIONS.is_dir()
    else Path(__file__).resolve().parent / "migrations"
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DIRECTIVE = re.compile(r"\{\{\s*(\w+)(?:\s+([^}]*?))?\s*\}\}")
_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \{\{db\}\}\.(\w+)")
_ALTER_TABLE = re.compile(r"ALTER TABLE \{\{db\}\}\.(\w+) ")


class MigrationError(RuntimeError):
    """A migration file is malformed, or an applied one was edited afterwards."""


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


# --- migrations ----------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """One versioned migration file."""

    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(directory: Path) -> list[Migration]:
    """The migration files of ``directory`` in version order.

    Raises :class:`MigrationError` on a duplicate version or a stray ``.sql``.
    """
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_FILE.match(path.name)
        if m is None:
            raise MigrationError(f"{path.name}: expected NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} appears twice")
        found[version] = Migration(version, m.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def _split(text: str) -> list[str]:
    # Statements end with ";" at the end of a line; comment-only chunks are dropped.
    parts = re.split(r";[ \t]*(?:\n|$)", text)
    out = []
    for part in parts:
        body = "\n".join(ln for ln in part.splitlines() if not ln.strip().startswith("--"))
        if body.strip():
            out.append(part.strip())
    return out


def _replicated(engine: str, global_table: bool) -> str:
    name, _, args = engine.partition("(")
    args = args.rstrip(")").strip()
    # {shard}/{replica} are server macros; {database}/{table} expand at CREATE.
    zk = "/clickhouse/tables/{database}/{table}"
    if not global_table:
        zk = "/clickhouse/tables/{shard}/{database}/{table}"
    params = f"'{zk}', '{{replica}}'" + (f", {args}" if args else "")
    return f"Replicated{name.strip()}({params})"


def render_statement(stmt: str, settings: StoreSettings) -> list[str]:
    """Render one migration statement into the SQL to run (one or two statements).

    Directives: ``{{db}}``, ``{{on_cluster}}``, ``{{engine E}}``,
    ``{{global_engine E}}`` (one copy shared by every shard),
    ``{{ttl column}}`` (``TTL column + N days`` when the table has a TTL
    setting), ``{{dedup_window}}`` and ``{{shard_by expr}}`` (the
    Distributed sharding key; renders to nothing). Without a cluster the
    table is created as named; with one it becomes ``<table>_local`` and a
    ``Distributed`` table takes the name, and an ``ALTER TABLE`` (of a
    sharded table) alters both.
    """
    m = _CREATE_TABLE.search(stmt)
    table = m.group(1) if m else None
    cluster = settings.cluster
    shard_by: list[str] = []
    distributed = False

    def sub(match: re.Match[str]) -> str:
        nonlocal distributed
        name, arg = match.group(1), (match.group(2) or "").strip()
        if name == "db":
            return settings.database
        if name == "on_cluster":
            return f"ON CLUSTER {cluster}" if cluster else ""
        if name == "dedup_window":
            return str(settings.dedup_window)
        if name in ("engine", "global_engine"):
            if not cluster:
                return arg
            distributed = distributed or name == "engine"
            return _replicated(arg, global_table=name == "global_engine")
        if name == "ttl":
            days = settings.ttl_days.get(table or "")
            return f"TTL toDateTime({arg}) + INTERVAL {int(days)} DAY" if days else ""
        if name == "shard_by":
            shard_by.append(arg)
            return ""
        raise MigrationError(f"unknown directive {{{{{name}}}}} in {table or stmt[:40]!r}")

    body = _DIRECTIVE.sub(sub, stmt)
    body = "\n".join(ln.rstrip() for ln in body.splitlines() if ln.strip())
    altered = _ALTER_TABLE.search(stmt)
    if cluster and altered is not None:
        name = f"{settings.database}.{altered.group(1)}"
        return [body.replace(f"ALTER TABLE {name} ", f"ALTER TABLE {name}_local ", 1), body]
    if not (cluster and table and distributed):
        return [body]
    db = settings.database
    local = f"{table}_local"
    body = body.replace(f"EXISTS {db}.{table} ", f"EXISTS {db}.{local} ", 1)
    key = shard_by[0] if shard_by else "rand()"
    dist = (
        f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local}\n"
        f"ENGINE = Distributed({cluster}, {db}, {local}, {key})"
    )
    return [body, dist]


def render_migration(migration: Migration | str, settings: StoreSettings) -> list[str]:
    """The SQL statements of a migration under ``settings`` (pure)."""
    text = migration.text if isinstance(migration, Migration) else migration
    out: list[str] = []
    for stmt in _split(text):
        out.extend(render_statement(stmt, settings))
    return out


_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS {{db}}.schema_migrations {{on_cluster}}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = {{global_engine ReplacingMergeTree}}
ORDER BY version
"""


def bootstrap_sql(settings: StoreSettings) -> list[str]:
    """The database and the ``schema_migrations`` table, before any migration."""
    on = f" ON CLUSTER {settings.cluster}" if settings.cluster else ""
    return [
        f"CREATE DATABASE IF NOT EXISTS {settings.database}{on}",
        *render_migration(_BOOTSTRAP, settings),
    ]


# --- connecting ----------------------------------------------------------


def _password(in_dsn: str | None) -> str:
    """The DSN's password, else ``CLICKHOUSE_PASSWORD_FILE`` / ``CLICKHOUSE_PASSWORD``.

    A secret file keeps the password out of the command line and the
    environment; it is never logged.
    """
    if in_dsn:
        return unquote(in_dsn)
    from sinks.secrets import read_secret

    return read_secret("CLICKHOUSE_PASSWORD") or ""


#: DSN query parameters that are settings (whole seconds)
_DSN_TIMEOUTS = ("connect_timeout", "send_receive_timeout")


def check_dsn(dsn: str) -> None:
    """Raise ``ValueError`` unless ``dsn`` has a scheme :func:`connect` opens (no I/O)."""
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


def _client_for(dsn: str, cfg: StoreSettings) -> Any:
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


def connect(
    dsn: str,
    *,
    clock: Clock = time.monotonic,
    stats: SinkStats | None = None,
    **settings: Any,
) -> ClickHouseStore:
    """Open a store on ``dsn`` (see the module docstring); does not migrate.

    ``settings`` are the fields of :class:`StoreSettings` (see
    :func:`store_settings`); ``stats`` the counters to add to (a fresh
    :class:`~sinks.buffer.SinkStats` by default). Raises ``ValueError`` for
    an unknown scheme or a bad setting and the driver's errors when the
    engine or server cannot be reached (for a server: within
    ``connect_timeout`` plus ``send_receive_timeout``; for chDB: another
    process holds the path, or this process has another path open).
    """
    cfg = store_settings(dsn, **settings)
    client = _client_for(dsn, cfg)
    return ClickHouseStore(client, cfg, clock=clock, stats=stats)


# --- the store -----------------------------------------------------------


def _dead_letter_rows(dead: Iterable[Mapping[str, Any] | Any]) -> list[rw.Row]:
    return [rw.dead_letter_row(d if isinstance(d, Mapping) else d.to_json()) for d in dead]


class ClickHouseStore:
    """Writes outputs through per-table buffers and answers the report queries.

    One store per thread: the client runs one call at a time. ``write_*``
    return only after the rows are written (or raise
    :class:`~sinks.buffer.BackpressureError`, rows kept pending: call
    :meth:`flush` again, never ``write_*`` with the same rows). ``stage_*``
    only make rows pending (no I/O); :meth:`flush` writes them.
    """

    def __init__(
        self,
        client: Any,
        settings: StoreSettings,
        *,
        clock: Clock = time.monotonic,
        stats: SinkStats | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.db = settings.database
        self.stats = stats if stats is not None else SinkStats()
        self._clock = clock
        self._types: dict[str, Any] = {}
        self._buffers: dict[str, TableBuffer] = {}
        self._insert_settings: dict[str, Any] = {"async_insert": 0}
        if settings.cluster:
            # Forward the insert (and its token) to the shards synchronously.
            self._insert_settings["distributed_foreground_insert"] = 1

    # -- migrations --

    def applied_migrations(self) -> dict[int, str]:
        """Applied version -> checksum (empty before the first migrate)."""
        exists = self.client.command(
            "SELECT count() FROM system.tables WHERE database = {db:String} "
            "AND name = 'schema_migrations'",
            parameters={"db": self.db},
        )
        if not int(exists):
            return {}
        res = self.client.query(
            f"SELECT version, checksum FROM {self.db}.schema_migrations FINAL ORDER BY version"
        )
        return {int(v): str(c) for v, c in res.result_rows}

    def migrate(self) -> list[str]:
        """Apply the pending migrations in order; return their labels.

        Idempotent: a second call applies nothing and returns ``[]``. Every
        statement is ``IF NOT EXISTS``, so a migration interrupted half-way
        is simply re-run. Raises :class:`MigrationError` when an applied
        migration's file has changed since (write a new migration instead).
        """
        for sql in bootstrap_sql(self.settings):
            self.client.command(sql)
        applied = self.applied_migrations()
        done: list[str] = []
        for mig in load_migrations(self.settings.migrations_dir):
            if mig.version in applied:
                if applied[mig.version] != mig.checksum:
                    raise MigrationError(f"{mig.label} changed after it was applied")
                continue
            for sql in render_migration(mig, self.settings):
                self.client.command(sql)
            self.client.insert(
                f"{self.db}.schema_migrations",
                [(mig.version, mig.label, mig.checksum)],
                column_names=("version", "name", "checksum"),
                settings=self._insert_settings,
            )
            done.append(mig.label)
        return done

    # -- writing --

    def encode(self, table: str, columns: Sequence[str], rows: Sequence[rw.Row]) -> bytes:
        """The Native-format bytes of ``rows`` (what :meth:`send` transmits)."""
        target = f"{self.db}.{table}"
        types = self._types.get(table)
        if types is None:
            # One DESCRIBE per table and process, not one per batch.
            ctx = self.client.create_insert_context(target, column_names=list(columns))
            types = self._types[table] = ctx.column_types
        ctx = self.client.create_insert_context(
            target, column_names=list(columns), column_types=types, data=rows
        )
        ctx.compression = None
        data = b"".join(NativeTransform.build_insert(ctx))
        if ctx.insert_exception is not None:  # a value the column type cannot encode
            raise ctx.insert_exception
        # The first block starts with the statement line for an HTTP body;
        # raw_insert sends the statement itself, so keep only the Native bytes.
        if data.startswith(b"INSERT INTO"):
            data = data[data.index(b"\n") + 1 :]
        return data

    def send(self, table: str, columns: Sequence[str], payload: bytes, token: str) -> None:
        """Insert an encoded batch with its deduplication token."""
        self.client.raw_insert(
            f"{self.db}.{table}",
            list(columns),
            payload,
            settings={**self._insert_settings, "insert_deduplication_token": token},
            fmt="Native",
        )

    def buffer(self, table: str) -> TableBuffer:
        """The buffer of ``table`` (created on first use, shared stats)."""
        buf = self._buffers.get(table)
        if buf is None:
            cfg = self.settings
            buf = TableBuffer(
                table,
                rw.COLUMNS[table],
                self,
                clock=self._clock,
                max_rows=cfg.batch_rows,
                max_age_seconds=cfg.max_age_seconds,
                retry=RetryPolicy(cfg.max_retries, cfg.backoff_seconds),
                stats=self.stats,
            )
            self._buffers[table] = buf
        return buf

    @property
    def pending(self) -> int:
        """Rows staged or added and not yet written, over every table."""
        return sum(buf.pending for buf in self._buffers.values())

    def stage_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> None:
        """Make the rows of ``outputs`` pending for the next :meth:`flush` (no I/O)."""
        for table, rows in rw.rows_for_outputs(outputs).items():
            self.buffer(table).append(rows)

    def stage_dead_letters(self, dead: Iterable[Mapping[str, Any] | Any]) -> None:
        """Make dead letters pending for the next :meth:`flush` (no I/O)."""
        self.buffer(rw.DEAD_LETTERS).append(_dead_letter_rows(dead))

    def stage_raw_events(self, rows: Iterable[rw.RawEvent]) -> None:
        """Make received events pending for the next :meth:`flush` (no I/O)."""
        self.buffer(rw.RAW_EVENTS).append([rw.raw_event_row(ev) for ev in rows])

    def add_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> int:
        """Buffer the rows of ``outputs``; writes only batches that are due."""
        written = 0
        for table, rows in rw.rows_for_outputs(outputs).items():
            written += self.buffer(table).add(rows)
        return written

    def flush(self) -> int:
        """Write every pending row of every table, detail tables first."""
        order = [*rw.WRITE_ORDER, *(t for t in self._buffers if t not in rw.WRITE_ORDER)]
        return sum(self._buffers[t].flush() for t in order if t in self._buffers)

    def write_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> int:
        """Write the rows of replay/worker outputs now; returns the rows written.

        Raises :class:`~sinks.buffer.BackpressureError` when a batch cannot be
        written; the caller must not acknowledge the outputs' inputs then.
        """
        return self.add_outputs(outputs) + self.flush()

    def write_dead_letters(self, dead: Iterable[Mapping[str, Any] | Any]) -> int:
        """Write dead letters (``DeadLetter`` objects or their ``to_json()`` dicts)."""
        buf = self.buffer(rw.DEAD_LETTERS)
        return buf.add(_dead_letter_rows(dead)) + buf.flush()

    def write_raw_events(self, rows: Iterable[rw.RawEvent]) -> int:
        """Write received events to the ``raw_events`` audit trail."""
        buf = self.buffer(rw.RAW_EVENTS)
        return buf.add([rw.raw_event_row(ev) for ev in rows]) + buf.flush()

    # -- reading --

    def _json_column(self, sql: str, params: Mapping[str, Any]) -> list[JSON]:
        res = self.client.query(sql, parameters=dict(params))
        return [json.loads(row[0]) for row in res.result_rows]

    def latest_contract_month(self, contract_id: str, month: str) -> JSON | None:
        """The latest revision of a contract-month statement, or ``None``."""
        found = self._json_column(
            f"SELECT statement FROM {self.db}.contract_months FINAL "
            "WHERE contract_id = {c:String} AND month = {m:Date} "
            "ORDER BY revision DESC LIMIT 1",
            {"c": contract_id, "m": rw.month_date(month)},
        )
        return found[0] if found else None

    def contract_month_history(self, contract_id: str, month: str) -> list[JSON]:
        """Every revision of a contract-month statement, oldest first."""
        return self._json_column(
            f"SELECT statement FROM {self.db}.contract_months FINAL "
            "WHERE contract_id = {c:String} AND month = {m:Date} ORDER BY revision",
            {"c": contract_id, "m": rw.month_date(month)},
        )

    def claim_decisions(self, contract_id: str) -> list[JSON]:
        """The latest decision of every claim on a contract, by submission then id."""
        return self._json_column(
            f"SELECT decision_json FROM {self.db}.claim_decisions FINAL "
            "WHERE contract_id = {c:String} ORDER BY submitted_at, claim_id",
            {"c": contract_id},
        )

    def service_months(self, month: str, services: Sequence[str] | None = None) -> list[JSON]:
        """The latest record of each service for a UTC month, by service."""
        where = "month = {m:Date}"
        params: dict[str, Any] = {"m": rw.month_date(month)}
        if services is not None:
            where += " AND service IN {s:Array(String)}"
            params["s"] = list(services)
        return self._json_column(
            f"SELECT argMax(record, version) FROM {self.db}.service_months "
            f"WHERE {where} GROUP BY service ORDER BY service",
            params,
        )

    def minute_state_counts(self, month: str) -> dict[str, dict[str, int]]:
        """Non-up minutes per service and state for a UTC month, latest snapshot only."""
        res = self.client.query(
            f"""
            WITH latest AS (
                SELECT service, max(version) AS version FROM {self.db}.service_months
                WHERE month = {{m:Date}} GROUP BY service
            )
            SELECT s.service, toString(s.state), count()
            FROM {self.db}.minute_states AS s FINAL
            INNER JOIN latest AS l ON s.service = l.service AND s.version = l.version
            WHERE toStartOfMonth(s.minute) = {{m:Date}}
            GROUP BY s.service, s.state ORDER BY s.service, s.state
            """,
            parameters={"m": rw.month_date(month)},
            # Both tables are sharded by service, so each shard joins its own part.
            settings={"distributed_product_mode": "local"} if self.settings.cluster else None,
        )
        out: dict[str, dict[str, int]] = {}
        for service, state, n in res.result_rows:
            out.setdefault(str(service), {})[str(state)] = int(n)
        return out

    def ticket_verdicts(self, client_id: str | None = None, month: str | None = None) -> list[JSON]:
        """The latest verdict of every ticket, by ``opened_at`` then ticket id.

        ``client_id`` keeps one client's tickets; ``month`` (``YYYY-MM``) those
        opened in that UTC month.
        """
        where, params = self._support_filter(client_id, month, "opened_at")
        return self._json_column(
            f"SELECT verdict FROM (SELECT ticket_id, argMax(verdict, version) AS verdict, "
            f"argMax(opened_at, version) AS opened_at, argMax(client_id, version) AS client_id "
            f"FROM {self.db}.ticket_verdicts GROUP BY ticket_id) "
            f"WHERE {where} ORDER BY opened_at, ticket_id",
            params,
        )

    def ticket_alerts(self, client_id: str | None = None, month: str | None = None) -> list[JSON]:
        """The latest of each ticket's alerts, by the instant they passed, ticket, alert.

        ``month`` (``YYYY-MM``) keeps the alerts of tickets opened in that UTC month.
        """
        where, params = self._support_filter(client_id, month, "opened_at")
        return self._json_column(
            f"SELECT alert_json FROM (SELECT ticket_id, alert, "
            f"argMax(alert_json, version) AS alert_json, argMax(alert_at, version) AS alert_at, "
            f"argMax(opened_at, version) AS opened_at, argMax(client_id, version) AS client_id "
            f"FROM {self.db}.ticket_alerts GROUP BY ticket_id, alert) "
            f"WHERE {where} ORDER BY alert_at, ticket_id, alert",
            params,
        )

    def support_months(self, month: str, client_id: str | None = None) -> list[JSON]:
        """The latest compliance row of each client and severity for a month."""
        where = "month = {m:Date}"
        params: dict[str, Any] = {"m": rw.month_date(month)}
        if client_id is not None:
            where += " AND client_id = {c:String}"
            params["c"] = client_id
        return self._json_column(
            f"SELECT argMax(record, version) FROM {self.db}.support_months "
            f"WHERE {where} GROUP BY client_id, severity ORDER BY client_id, severity",
            params,
        )

    @staticmethod
    def _support_filter(
        client_id: str | None, month: str | None, column: str
    ) -> tuple[str, dict[str, Any]]:
        clauses = ["1"]
        params: dict[str, Any] = {}
        if client_id is not None:
            clauses.append("client_id = {c:String}")
            params["c"] = client_id
        if month is not None:
            clauses.append(f"toStartOfMonth({column}) = {{m:Date}}")
            params["m"] = rw.month_date(month)
        return " AND ".join(clauses), params

    def dead_letter_counts(self) -> dict[str, int]:
        """Distinct dead letters by reason."""
        res = self.client.query(
            f"SELECT reason, uniqExact(dead_letter_id) FROM {self.db}.dead_letters "
            "GROUP BY reason ORDER BY reason"
        )
        return {str(r): int(n) for r, n in res.result_rows}

    def close(self) -> None:
        """Flush nothing and close the client (call ``flush`` first)."""
        self.client.close()


__all__ = [
    "DEFAULT_DATABASE",
    "BackpressureError",
    "ClickHouseStore",
    "Migration",
    "MigrationError",
    "StoreSettings",
    "bootstrap_sql",
    "check_dsn",
    "connect",
    "load_migrations",
    "render_migration",
    "render_statement",
    "store_settings",
]
