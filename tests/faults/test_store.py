"""ClickHouse faults, injected for real: a store that never answers, a refused port, a full disk.

Each fault is the real thing, never a mock:

- a TCP server on 127.0.0.1 that accepts connections and never answers
  (:func:`black_hole`);
- a port that refuses connections (bound, then closed: nothing listens);
- chDB on a filesystem that is really full: a 20 MB tmpfs mounted for the
  test and filled with a file until the kernel answers ENOSPC (the chDB part
  runs as a process of its own, :mod:`tests.faults.full_disk`, since chDB
  allows one engine path per process).

What must hold: the event loop never blocks on the store (a coroutine
ticking every 20 ms keeps ticking while a write hangs), a call to a server
returns within its timeout, no store error escapes (the caller stays paused
in the write), a retry never adds rows, and once the store is back every row
is written exactly once. The same faults under a whole worker on a real
broker are in ``test_store_worker.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devkit.localkafka import free_port
from sinks.lineage import RawEvent
from sinks.writer import StoreWriter
from streams import topics

pytestmark = pytest.mark.clickhouse

REPO = Path(__file__).resolve().parents[2]


def _events(n: int) -> list[RawEvent]:
    received = datetime(2026, 3, 10, tzinfo=UTC)
    return [
        RawEvent(
            json.dumps({"type": "probe", "event_id": f"p-{i}"}).encode(),
            received,
            {"topic": topics.PROBES.name, "partition": 0, "offset": i},
        )
        for i in range(n)
    ]


class Ticker:
    """A coroutine ticking every 20 ms: the longest gap is how long the loop was blocked."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.02)
            now = loop.time()
            self.gaps.append(now - last)
            last = now

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return max(self.gaps)


async def _until(predicate: Any, timeout: float) -> float:
    """Seconds until ``predicate()`` held (polled every 20 ms); fails after ``timeout``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        await asyncio.sleep(0.02)
    return loop.time() - start


def test_a_store_that_never_answers_times_out_within_its_bound_and_never_blocks_the_loop(
    black_hole: int,
) -> None:
    dsn = f"http://127.0.0.1:{black_hole}/sla?connect_timeout=1&send_receive_timeout=2"

    async def scenario() -> dict[str, Any]:
        writer = StoreWriter(
            dsn, backoff_seconds=0.1, backoff_max_seconds=0.2, slow_call_seconds=1.0
        )
        ticker = Ticker()
        ticker.start()
        write = asyncio.create_task(writer.write_raw_events(_events(100)))
        # while the first call hangs in the driver's read, /health already says why
        slow = await _until(lambda: writer.store_error is not None, 10)
        slow_reason = writer.store_error
        first = await _until(lambda: writer.failures >= 1, 10)
        reason = writer.store_error
        await _until(lambda: writer.failures >= 2, 10)
        gap = await ticker.stop()
        still_waiting = not write.done()
        write.cancel()
        await writer.aclose()
        return {
            "slow": slow,
            "slow_reason": slow_reason,
            "first": slow + first,
            "reason": reason,
            "gap": gap,
            "ok": writer.store_ok,
            "still_waiting": still_waiting,
        }

    got = asyncio.run(scenario())
    # the read timeout is 2 s: the first call ends then, not after the driver's 300 s default
    assert 1.5 <= got["first"] <= 6.0
    assert 1.0 <= got["slow"] < 2.5
    assert "waiting" in got["slow_reason"]
    assert "timed out" in got["reason"]
    # two calls of 2 s each hung in the driver while the loop ticked every 20 ms
    assert got["gap"] < 0.5
    assert got["still_waiting"]  # paused in the write: no exception escaped
    assert got["ok"] is False


def test_a_refused_port_is_backpressure_the_write_waits_and_nothing_escapes() -> None:
    port = free_port()  # bound and closed again: nothing listens there
    dsn = f"http://127.0.0.1:{port}/sla?connect_timeout=1&send_receive_timeout=2"
    failures: list[BaseException] = []

    async def scenario() -> dict[str, Any]:
        writer = StoreWriter(
            dsn, backoff_seconds=0.05, backoff_max_seconds=0.2, on_failure=failures.append
        )
        ticker = Ticker()
        ticker.start()
        write = asyncio.create_task(writer.write_outputs([]))
        audit = asyncio.create_task(writer.write_raw_events(_events(50)))
        took = await _until(lambda: writer.failures >= 6, 10)
        gap = await ticker.stop()
        # nothing returned: a caller that commits after the write has committed nothing
        waiting = not write.done() and not audit.done()
        reason = writer.store_error
        write.cancel()
        audit.cancel()
        await writer.aclose()
        return {"took": took, "gap": gap, "waiting": waiting, "reason": reason}

    got = asyncio.run(scenario())
    assert got["waiting"]
    assert "refused" in got["reason"]
    assert got["took"] < 5.0  # refused fails fast, and the backoff is capped at 0.2 s
    assert got["gap"] < 0.5
    assert len(failures) >= 6
    assert all(type(f).__name__ == "OperationalError" for f in failures)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 20 MB tmpfs mounted on a fresh directory (root only), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        reason = f"cannot mount a tmpfs for the full-disk fault: {proc.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so not skipping: {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_chdb_on_a_full_filesystem_pauses_without_growing_then_writes_everything_once(
    full_disk: Path,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.full_disk", str(full_disk)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    events, dead = got["events"], got["dead_letters"]
    assert got["filled_bytes"] > 10_000_000  # the filesystem really was full
    assert got["failures_while_full"] >= 5
    assert got["done_while_full"] is False  # paused, not raised, not returned
    assert got["store_ok_while_full"] is False
    assert any("not enough space" in e or "No space left" in e for e in got["errors"])
    # every retry resent the same rows: the store held exactly what it was given
    assert got["pending_min"] == got["pending_max"] == events + dead
    assert got["max_gap"] < 0.5
    assert got["written"] == events + dead
    assert got["pending_after"] == 0
    assert got["store_ok_after"] is True
    assert got["counts"] == {"raw": events, "raw_final": events, "raw_ids": events, "dead": dead}
