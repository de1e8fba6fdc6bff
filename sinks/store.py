"""The ClickHouse store: a client on a database, its migrations, the buffered writer.

:func:`connect` opens a :class:`ClickHouseStore` on a DSN (:mod:`sinks.dsn`
says which); :meth:`ClickHouseStore.migrate` and
:meth:`~ClickHouseStore.migrate_down` run :mod:`sinks.migrate`; the
``stage_*``/``write_*`` methods turn outputs into rows (:mod:`sinks.rows`)
and write them through one :class:`~sinks.buffer.TableBuffer` per table;
the reads are :class:`~sinks.reads.StoreReads`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.transform import NativeTransform

from sinks import lineage as ln
from sinks import migrate as mg
from sinks import rows as rw
from sinks import tables
from sinks.buffer import Clock, RetryPolicy, SinkStats, TableBuffer
from sinks.dsn import StoreSettings, open_client, store_settings
from sinks.reads import StoreReads


def _dead_letter_rows(dead: Iterable[Mapping[str, Any] | Any]) -> list[rw.Row]:
    return [ln.dead_letter_row(d if isinstance(d, Mapping) else d.to_json()) for d in dead]


class ClickHouseStore(StoreReads):
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
        self._insert_settings = settings.insert_settings

    # -- migrations --

    def applied_migrations(self) -> dict[int, str]:
        """Applied version -> checksum (empty before the first migrate)."""
        return mg.applied_migrations(self.client, self.settings)

    def migrate(self) -> list[str]:
        """Apply the pending migrations in order; return their labels (idempotent)."""
        return mg.migrate(self.client, self.settings)

    def migrate_down(self, version: int) -> list[str]:
        """Undo the applied migrations above ``version``, newest first; return their labels."""
        return mg.migrate_down(self.client, self.settings, version)

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
                tables.COLUMNS[table],
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
        self.buffer(tables.DEAD_LETTERS).append(_dead_letter_rows(dead))

    def stage_raw_events(self, rows: Iterable[ln.RawEvent]) -> None:
        """Make received events pending for the next :meth:`flush` (no I/O)."""
        self.buffer(tables.RAW_EVENTS).append([ln.raw_event_row(ev) for ev in rows])

    def add_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> int:
        """Buffer the rows of ``outputs``; writes only batches that are due."""
        written = 0
        for table, rows in rw.rows_for_outputs(outputs).items():
            written += self.buffer(table).add(rows)
        return written

    def flush(self) -> int:
        """Write every pending row of every table, detail tables first."""
        order = [*tables.WRITE_ORDER, *(t for t in self._buffers if t not in tables.WRITE_ORDER)]
        return sum(self._buffers[t].flush() for t in order if t in self._buffers)

    def write_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> int:
        """Write the rows of replay/worker outputs now; returns the rows written.

        Raises :class:`~sinks.buffer.BackpressureError` when a batch cannot be
        written; the caller must not acknowledge the outputs' inputs then.
        """
        return self.add_outputs(outputs) + self.flush()

    def write_dead_letters(self, dead: Iterable[Mapping[str, Any] | Any]) -> int:
        """Write dead letters (``DeadLetter`` objects or their ``to_json()`` dicts)."""
        buf = self.buffer(tables.DEAD_LETTERS)
        return buf.add(_dead_letter_rows(dead)) + buf.flush()

    def write_raw_events(self, rows: Iterable[ln.RawEvent]) -> int:
        """Write received events to the ``raw_events`` audit trail."""
        buf = self.buffer(tables.RAW_EVENTS)
        return buf.add([ln.raw_event_row(ev) for ev in rows]) + buf.flush()

    def close(self) -> None:
        """Flush nothing and close the client (call ``flush`` first)."""
        self.client.close()


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
    client = open_client(dsn, cfg)
    return ClickHouseStore(client, cfg, clock=clock, stats=stats)


__all__ = ["ClickHouseStore", "connect"]
