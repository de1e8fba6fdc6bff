"""The schema migrations: versioned SQL files with a way back, and their runner.

Migrations are the ``NNNN_name.sql`` files of ``deploy/clickhouse/`` (or
``migrations_dir=``), rendered by :func:`render_migration` and recorded in
``schema_migrations``. With ``cluster=`` set, the same files yield
``Replicated*`` tables ``ON CLUSTER`` plus ``Distributed`` tables over them
(see ``docs/clickhouse.md``).

A file holds its forward statements, then a line ``-- down`` and the
statements that undo them (``DROP ... SYNC``, ``DROP COLUMN``), rendered the
same way. The checksum recorded for an applied migration covers the forward
part only, so a store migrated before a file had its down step still opens.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinks.dsn import StoreSettings

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DIRECTIVE = re.compile(r"\{\{\s*(\w+)(?:\s+([^}]*?))?\s*\}\}")
_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \{\{db\}\}\.(\w+)")
_ALTER_TABLE = re.compile(r"ALTER TABLE \{\{db\}\}\.(\w+) ")
_DROP_TABLE = re.compile(r"DROP TABLE IF EXISTS \{\{db\}\}\.(\w+) ")
_DOWN = re.compile(r"^-- down[ \t]*$", re.MULTILINE)


class MigrationError(RuntimeError):
    """A migration file is malformed, an applied one was edited, or one cannot be undone."""


@dataclass(frozen=True)
class Migration:
    """One versioned migration file: ``text`` goes forward (checksummed), ``down`` back."""

    version: int
    name: str
    text: str
    down: str = ""

    @classmethod
    def parse(cls, version: int, name: str, source: str) -> Migration:
        """The migration of a file's ``source``: forward part, then ``-- down`` and the rest."""
        m = _DOWN.search(source)
        if m is None:
            return cls(version, name, source)
        return cls(version, name, source[: m.start()], source[m.end() :].lstrip("\n"))

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
        found[version] = Migration.parse(version, m.group(2), path.read_text(encoding="utf-8"))
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
    ``Distributed`` table takes the name, and an ``ALTER TABLE`` or a
    ``DROP TABLE`` (of a sharded table) alters or drops both.
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
    if not cluster:
        return [body]
    return _on_cluster(stmt, body, table if distributed else None, shard_by, settings, cluster)


def _on_cluster(
    stmt: str,
    body: str,
    table: str | None,
    shard_by: list[str],
    settings: StoreSettings,
    cluster: str,
) -> list[str]:
    """A rendered statement on a cluster: an ALTER or DROP of both tables, a CREATE of a
    sharded ``table`` (None: not sharded) as ``<table>_local`` behind a Distributed table."""
    altered = _ALTER_TABLE.search(stmt)
    if altered is not None:
        name = f"{settings.database}.{altered.group(1)}"
        return [body.replace(f"ALTER TABLE {name} ", f"ALTER TABLE {name}_local ", 1), body]
    dropped = _DROP_TABLE.search(stmt)
    if dropped is not None:
        # the Distributed table first, so nothing writes through it to a dropped table
        name = f"{settings.database}.{dropped.group(1)}"
        return [body, body.replace(f"EXISTS {name} ", f"EXISTS {name}_local ", 1)]
    if not table:
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


def render_migration(
    migration: Migration | str, settings: StoreSettings, *, down: bool = False
) -> list[str]:
    """The SQL statements of a migration under ``settings`` (pure); ``down``: its way back."""
    if isinstance(migration, Migration):
        text = migration.down if down else migration.text
    else:
        text = migration
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


# --- the runner ------------------------------------------------------------


def applied_migrations(client: Any, settings: StoreSettings) -> dict[int, str]:
    """Applied version -> checksum (empty before the first migrate)."""
    exists = client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} "
        "AND name = 'schema_migrations'",
        parameters={"db": settings.database},
    )
    if not int(exists):
        return {}
    res = client.query(
        f"SELECT version, checksum FROM {settings.database}.schema_migrations FINAL "
        "ORDER BY version"
    )
    return {int(v): str(c) for v, c in res.result_rows}


def _checked(mig: Migration, applied: dict[int, str]) -> bool:
    """Whether ``mig`` is applied; raises when the applied one differs from its file."""
    if mig.version not in applied:
        return False
    if applied[mig.version] != mig.checksum:
        raise MigrationError(f"{mig.label} changed after it was applied")
    return True


def migrate(client: Any, settings: StoreSettings) -> list[str]:
    """Apply the pending migrations in order; return their labels.

    Idempotent: a second call applies nothing and returns ``[]``. Every
    statement is ``IF NOT EXISTS``, so a migration interrupted half-way
    is simply re-run. Raises :class:`MigrationError` when an applied
    migration's file has changed since (write a new migration instead).
    """
    for sql in bootstrap_sql(settings):
        client.command(sql)
    applied = applied_migrations(client, settings)
    done: list[str] = []
    for mig in load_migrations(settings.migrations_dir):
        if _checked(mig, applied):
            continue
        for sql in render_migration(mig, settings):
            client.command(sql)
        client.insert(
            f"{settings.database}.schema_migrations",
            [(mig.version, mig.label, mig.checksum)],
            column_names=("version", "name", "checksum"),
            # a replicated table drops a block it has seen: the record of a
            # migration applied again after a down step is that same block
            settings={**settings.insert_settings, "insert_deduplicate": 0},
        )
        done.append(mig.label)
    return done


def migrate_down(client: Any, settings: StoreSettings, version: int) -> list[str]:
    """Undo the applied migrations above ``version``, newest first; return their labels.

    ``version`` 0 undoes every migration (``schema_migrations`` stays).
    Each down step runs, then its record is deleted, so a run interrupted
    half-way is simply re-run (every down statement is ``IF EXISTS``).
    Nothing runs when one of the migrations to undo has no file, a changed
    file or no down step: :class:`MigrationError` says which.
    """
    if version < 0:
        raise MigrationError(f"cannot migrate down to version {version}: versions start at 0")
    applied = applied_migrations(client, settings)
    files = {m.version: m for m in load_migrations(settings.migrations_dir)}
    undo: list[Migration] = []
    for v in sorted((v for v in applied if v > version), reverse=True):
        mig = files.get(v)
        if mig is None:
            raise MigrationError(f"version {v} is applied but has no migration file")
        _checked(mig, applied)
        if not mig.down.strip():
            raise MigrationError(f"{mig.label} has no down step")
        undo.append(mig)
    for mig in undo:
        for sql in render_migration(mig, settings, down=True):
            client.command(sql)
        # a mutation, waited for on every replica: the record is gone on return
        client.command(
            f"ALTER TABLE {settings.database}.schema_migrations "
            f"DELETE WHERE version = {int(mig.version)}",
            settings={"mutations_sync": 2},
        )
    return [m.label for m in undo]


__all__ = [
    "Migration",
    "MigrationError",
    "applied_migrations",
    "bootstrap_sql",
    "load_migrations",
    "migrate",
    "migrate_down",
    "render_migration",
    "render_statement",
]
