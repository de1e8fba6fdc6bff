"""The sink contract: buffer rows, flush them as idempotent batches.

A :class:`TableBuffer` holds rows for one table. ``add`` appends and flushes
when the batch is full (``max_rows``) or old (``max_age_seconds`` since its
first row, by the injected clock); ``flush`` writes whatever is pending.
The caller acknowledges its input (commits Kafka offsets) only after
``flush`` returned: nothing is acknowledged before it is written.

Each batch is written with one ``insert_deduplication_token`` computed from
its table and content (:func:`batch_token`), so a batch retried after a
timeout whose first attempt did land is dropped by the server instead of
duplicated. That needs ``non_replicated_deduplication_window > 0`` on
non-replicated tables (the migrations set it) and ``async_insert=0``.

On failure the write is retried ``max_retries`` times with exponential
backoff (the injected ``sleep``), then :class:`BackpressureError` is raised
and the batch stays pending: the caller pauses its input and calls ``flush``
again later, which resends the same batch with the same token. Any error
while encoding or sending counts as a failed attempt (the driver raises many
types, and the first encode of a table asks the server for its columns).

A batch, once attempted, is frozen: its rows, bytes and token are resent
as they are until one attempt succeeds, even when more rows were added in
between, so an attempt that did land (a timeout after the server wrote it)
is always deduplicated by the next. Rows given to :meth:`TableBuffer.add`
or :meth:`TableBuffer.append` are pending from then on, whatever the
outcome: after a :class:`BackpressureError` the caller retries ``flush``,
never ``add`` (adding them again would write them twice).

Nothing here bounds the pending rows: the caller keeps memory bounded by
pausing its input until ``flush`` returns (:mod:`sinks.writer`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sinks.rows import Row

#: A monotonic clock in seconds; injected so tests drive time.
Clock = Callable[[], float]


class BatchWriter(Protocol):
    """Encodes and sends batches for a :class:`TableBuffer`.

    ``encode`` returns the exact bytes ``send`` will transmit (for ClickHouse,
    the Native block); the token is a hash of them, so hashing costs a pass
    over bytes, not over Python objects, and a retry resends the same bytes.
    ``encode`` must be deterministic: the same rows give the same bytes.
    ``send`` raises on failure.
    """

    def encode(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> bytes: ...

    def send(self, table: str, columns: Sequence[str], payload: bytes, token: str) -> None: ...


class BackpressureError(RuntimeError):
    """A batch could not be written after the bounded retries; it stays pending."""

    def __init__(self, table: str, rows: int, attempts: int, cause: BaseException) -> None:
        super().__init__(f"{table}: {rows} rows not written after {attempts} attempts: {cause}")
        self.table = table
        self.rows = rows
        self.attempts = attempts


@dataclass
class SinkStats:
    """Counters a Prometheus collector reads at scrape time (plain attributes)."""

    rows_written: int = 0
    rows_failed: int = 0
    batches_written: int = 0
    batches_failed: int = 0
    retries: int = 0
    insert_seconds_total: float = 0.0
    insert_seconds_last: float = 0.0
    insert_seconds_max: float = 0.0
    rows_by_table: dict[str, int] = field(default_factory=dict)


def batch_token(table: str, payload: bytes) -> str:
    """The deduplication token of a batch: a hash of its table and encoded rows.

    Deterministic: the same rows encode to the same bytes in any process, so
    a retried (or re-consumed) batch carries the same token and the server
    drops it. Different content gives a different token, so no real batch is
    ever dropped as a duplicate.
    """
    h = hashlib.blake2b(digest_size=20)
    h.update(table.encode())
    h.update(b"\x00")
    h.update(payload)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff, capped."""

    max_retries: int = 3
    backoff_seconds: float = 0.2
    backoff_max_seconds: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.backoff_max_seconds, self.backoff_seconds * 2 ** (attempt - 1)))


class TableBuffer:
    """Pending rows for one table; see the module docstring for the contract.

    Not thread-safe: one buffer per writer thread (a chDB or HTTP client runs
    one call at a time anyway).
    """

    def __init__(
        self,
        table: str,
        columns: Sequence[str],
        writer: BatchWriter,
        *,
        clock: Clock,
        max_rows: int = 50_000,
        max_age_seconds: float = 1.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timer: Clock = time.perf_counter,
        stats: SinkStats | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        self.table = table
        self.columns = tuple(columns)
        self._writer = writer
        self._clock = clock
        self.max_rows = max_rows
        self.max_age_seconds = max_age_seconds
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._timer = timer
        self.stats = stats if stats is not None else SinkStats()
        self._rows: list[Row] = []
        self._first_at: float | None = None
        #: the batch an attempt was made for and not yet written: (rows, bytes, token);
        #: its rows are the first ones of ``_rows``
        self._frozen: tuple[int, bytes, str] | None = None

    @property
    def pending(self) -> int:
        """Rows added and not yet written."""
        return len(self._rows)

    def due(self) -> bool:
        """Whether the pending batch is full or older than ``max_age_seconds``."""
        if not self._rows:
            return False
        if len(self._rows) >= self.max_rows:
            return True
        assert self._first_at is not None
        return self._clock() - self._first_at >= self.max_age_seconds

    def append(self, rows: Sequence[Row]) -> None:
        """Make ``rows`` pending without writing anything (no I/O, never raises)."""
        if rows and not self._rows:
            self._first_at = self._clock()
        self._rows.extend(rows)

    def add(self, rows: Sequence[Row]) -> int:
        """Append rows; write full batches now. Returns the rows written by this call.

        Every row is pending before the first write is tried, so on
        :class:`BackpressureError` (raised like :meth:`flush`) all of them
        are kept: call ``flush`` later, not ``add`` again.
        """
        self.append(rows)
        written = 0
        while len(self._rows) >= self.max_rows:
            written += self._write_pending()
        if self.due():
            written += self._write_pending()
        return written

    def poll(self) -> int:
        """Write the pending batch if it is due (call it from a timer)."""
        return self._write_pending() if self.due() else 0

    def flush(self) -> int:
        """Write every pending row now; returns the number written.

        Raises :class:`BackpressureError` after ``retry.max_retries`` failed
        retries; the rows then stay pending for the next ``flush``.
        """
        written = 0
        while self._rows:
            written += self._write_pending()
        return written

    def _write_pending(self) -> int:
        frozen = self._frozen
        attempts = 0
        while True:
            attempts += 1
            started = self._timer()
            try:
                if frozen is None:
                    batch = self._rows[: self.max_rows]
                    payload = self._writer.encode(self.table, self.columns, batch)
                    # frozen from the first attempt on: a retry resends these exact bytes
                    frozen = self._frozen = (len(batch), payload, batch_token(self.table, payload))
                count, payload, token = frozen
                self._writer.send(self.table, self.columns, payload, token)
            except Exception as exc:  # the driver raises many types; all mean "not written"
                if attempts > self.retry.max_retries:
                    rows = frozen[0] if frozen is not None else min(len(self._rows), self.max_rows)
                    self.stats.batches_failed += 1
                    self.stats.rows_failed += rows
                    raise BackpressureError(self.table, rows, attempts, exc) from exc
                self.stats.retries += 1
                self._sleep(self.retry.delay(attempts))
                continue
            elapsed = self._timer() - started
            break
        self._frozen = None
        del self._rows[:count]
        self._first_at = self._clock() if self._rows else None
        st = self.stats
        st.rows_written += count
        st.batches_written += 1
        st.rows_by_table[self.table] = st.rows_by_table.get(self.table, 0) + count
        st.insert_seconds_total += elapsed
        st.insert_seconds_last = elapsed
        st.insert_seconds_max = max(st.insert_seconds_max, elapsed)
        return count


__all__ = [
    "BackpressureError",
    "BatchWriter",
    "Clock",
    "RetryPolicy",
    "SinkStats",
    "TableBuffer",
    "batch_token",
]
