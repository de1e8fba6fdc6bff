"""The store of an asyncio process: one thread owns the client, the event loop awaits it.

clickhouse-connect is synchronous, and a chDB client runs one call at a time,
so a :class:`StoreWriter` keeps its :class:`~sinks.store.ClickHouseStore`
on one daemon thread of its own and every call (connect, migrate, insert)
runs there. The event loop only awaits the outcome: heartbeats, timers and
web pages keep running while a write waits on a server that does not
answer, and a call to a server returns within its timeouts
(``connect_timeout`` / ``send_receive_timeout``, see :mod:`sinks.dsn`).

The contract of every ``write_*`` coroutine:

- it returns only once its rows are written (so its caller may then commit
  the offsets of the input they came from), with the number of rows that
  attempt wrote;
- any store error (connection refused, a timeout, a full disk, any
  ClickHouse or driver error) is backpressure, never an exception: the
  caller stays paused in the call, which tries again after a capped
  exponential backoff (``asyncio.sleep``, the loop never blocks). Only a
  cancellation of the caller ends the call early;
- the rows are staged once, before the first attempt, and every later
  attempt only flushes: a retried batch keeps its bytes and its
  ``insert_deduplication_token`` (see :mod:`sinks.buffer`), so retries never
  add rows and never write them twice. Memory stays bounded by what the
  paused callers handed over (each waits for its own rows);
- connecting and migrating are retried the same way, so the store may be
  down when the process starts.

:attr:`StoreWriter.store_ok` and :attr:`StoreWriter.store_error` say whether
the store is failing and why (for ``/health``); :attr:`StoreWriter.stats` are
the sink counters the Prometheus collector exports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from sinks import lineage as ln
from sinks.buffer import SinkStats
from sinks.dsn import check_dsn
from sinks.store import ClickHouseStore, connect

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Opens a store on a DSN with the given counters (``sinks.store.connect``).
Opener = Callable[..., ClickHouseStore]


class _Job:
    """One caller's rows: staged on the store once, then flushed until written."""

    __slots__ = ("stage", "staged")

    def __init__(self, stage: Callable[[ClickHouseStore], None]) -> None:
        self.stage = stage
        self.staged = False


class _Thread:
    """A single daemon thread running submitted calls one at a time, in order.

    A daemon: a call stuck on a server must not keep the process from
    exiting (what it was writing was not acknowledged, so it is read again).
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, fut))
        return fut

    def stop(self) -> None:
        self._queue.put(None)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting coroutine
                fut.set_exception(exc)
            else:
                fut.set_result(result)


def describe(exc: BaseException) -> str:
    """A one-line reason for ``/health`` and logs: the error's type and first line."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:500]


class StoreWriter:
    """A ClickHouse store on a thread of its own; see the module docstring.

    ``settings`` are :class:`~sinks.dsn.StoreSettings` fields (the
    buffer's own retries are always off: retrying is done here, without
    blocking). ``backoff_seconds`` doubles after each failed attempt of one
    call, up to ``backoff_max_seconds``. ``slow_call_seconds``: a store call
    running longer than this already counts as failing for
    :attr:`store_ok` (a server that accepts and does not answer shows up
    before the driver's timeout ends the call). ``on_failure`` is called on
    the event loop after every failed attempt (metrics). Raises
    ``ValueError`` at once for a DSN no store can be opened on.
    """

    def __init__(
        self,
        dsn: str,
        *,
        settings: Mapping[str, Any] | None = None,
        backoff_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        slow_call_seconds: float = 10.0,
        migrate: bool = True,
        on_failure: Callable[[BaseException], None] | None = None,
        opener: Opener = connect,
    ) -> None:
        check_dsn(dsn)
        if backoff_seconds <= 0 or backoff_max_seconds < backoff_seconds:
            raise ValueError("need 0 < backoff_seconds <= backoff_max_seconds")
        self.dsn = dsn
        self.settings = {**(settings or {}), "max_retries": 0}
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.slow_call_seconds = slow_call_seconds
        self._migrate = migrate
        self._on_failure = on_failure
        self._opener = opener
        #: counters shared with the store's buffers (read at scrape time)
        self.stats = SinkStats()
        #: failed attempts (connect, migrate or write), each retry counted
        self.failures = 0
        self._store: ClickHouseStore | None = None
        self._migrated = False
        self._last_error: str | None = None
        #: monotonic start of the call running on the thread, None when idle
        self._call_started: float | None = None
        self._thread: _Thread | None = None
        self._closed = False

    # -- state for /health ---------------------------------------------------------

    @property
    def store_ok(self) -> bool:
        """False while the last attempt failed or a call has run past ``slow_call_seconds``."""
        return self.store_error is None

    @property
    def store_error(self) -> str | None:
        """Why the store is failing (``None`` when it is not)."""
        if self._last_error is not None:
            return self._last_error
        started = self._call_started
        if started is not None:
            running = time.monotonic() - started
            if running >= self.slow_call_seconds:
                return f"a store call has been waiting for {running:.0f} s"
        return None

    @property
    def store(self) -> ClickHouseStore | None:
        """The open store (``None`` before the first successful connect); thread-owned."""
        return self._store

    @property
    def pending_rows(self) -> int:
        """Rows handed over and not yet written (read without the thread: approximate)."""
        return self._store.pending if self._store is not None else 0

    # -- writing -------------------------------------------------------------------

    async def write_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> int:
        """Write replay/worker outputs; returns once they are (see the module docstring)."""
        batch = list(outputs)
        return await self.write(lambda store: store.stage_outputs(batch))

    async def write_raw_events(self, events: Iterable[ln.RawEvent]) -> int:
        """Write received events to the audit trail; returns once they are."""
        batch = list(events)
        return await self.write(lambda store: store.stage_raw_events(batch))

    async def write_dead_letters(self, dead: Iterable[Mapping[str, Any] | Any]) -> int:
        """Write dead letters; returns once they are."""
        batch = list(dead)
        return await self.write(lambda store: store.stage_dead_letters(batch))

    async def write_audit(
        self, events: Iterable[ln.RawEvent], dead: Iterable[Mapping[str, Any] | Any]
    ) -> int:
        """Write received events and dead letters together; returns once both are."""
        received, letters = list(events), list(dead)

        def stage(store: ClickHouseStore) -> None:
            store.stage_raw_events(received)
            store.stage_dead_letters(letters)

        return await self.write(stage)

    async def write(self, stage: Callable[[ClickHouseStore], None]) -> int:
        """Stage rows with ``stage`` (once) and flush until they are written.

        ``stage`` runs on the store's thread and must only make rows pending
        (``ClickHouseStore.stage_*``). Returns the rows the successful flush
        wrote (other callers' pending rows included). Store errors never
        escape: they pause this call (see the module docstring).
        """
        job = _Job(stage)
        delay = self.backoff_seconds
        while True:
            try:
                written = await self._call(lambda: self._attempt(job))
            except Exception as exc:  # every store error is backpressure
                self._failed(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_seconds)
                continue
            self._last_error = None
            return written

    async def call(self, fn: Callable[[ClickHouseStore], T]) -> T:
        """Run ``fn`` on the open store on its thread (reads, tests); errors are raised.

        Opens (and migrates) the store first if needed. No retries.
        """

        def run() -> T:
            return fn(self._open())

        return await self._call(run)

    def _failed(self, exc: BaseException, delay: float) -> None:
        self.failures += 1
        self.stats.retries += 1
        reason = describe(exc)
        if reason != self._last_error:
            log.warning("ClickHouse unavailable (%s); pausing, next try in %.1f s", reason, delay)
        self._last_error = reason
        if self._on_failure is not None:
            self._on_failure(exc)

    # -- the thread ----------------------------------------------------------------

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError("the store writer is closed")
        if self._thread is None:
            self._thread = _Thread("clickhouse-writer")

        def timed() -> T:
            self._call_started = time.monotonic()
            try:
                return fn()
            finally:
                self._call_started = None

        return await asyncio.wrap_future(self._thread.submit(timed))

    def _open(self) -> ClickHouseStore:
        """The store, connected and migrated (on the thread; raises while it cannot be)."""
        if self._store is None:
            self._store = self._opener(self.dsn, stats=self.stats, **self.settings)
        if self._migrate and not self._migrated:
            self._store.migrate()
            self._migrated = True
        return self._store

    def _attempt(self, job: _Job) -> int:
        """One attempt for ``job`` (on the thread): open, stage once, flush."""
        store = self._open()
        if not job.staged:
            job.stage(store)
            job.staged = True  # from here on only flushed: never staged twice
        return store.flush()

    async def aclose(self) -> None:
        """Close the store on its thread and stop the thread (pending rows are not written)."""
        if self._closed:
            return
        thread = self._thread
        if thread is not None and self._store is not None:
            store = self._store
            try:
                await asyncio.wrap_future(thread.submit(store.close))
            except Exception as exc:
                log.warning("closing the store: %s", describe(exc))
        self._closed = True
        if thread is not None:
            thread.stop()
        self._store = None


__all__ = ["StoreWriter", "describe"]
