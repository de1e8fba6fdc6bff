"""The chDB half of the full-filesystem fault, run as a process of its own.

chDB allows one engine path per process, and a test session may already
hold another one, so :mod:`tests.faults.test_store` runs this module with
``python -m tests.faults.full_disk DIR``. ``DIR`` must be a small
filesystem of its own (the test mounts a tmpfs there). The run:

1. opens and migrates a store on ``DIR/engine`` through a
   :class:`~sinks.writer.StoreWriter`;
2. fills the filesystem with a file until the kernel answers ENOSPC;
3. hands the writer 10,000 raw events and 3 dead letters, then, while
   every insert fails, watches the event loop (a coroutine ticking every
   20 ms) and the rows the store holds;
4. deletes the filler, waits for the write to finish, and counts.

It prints one JSON object (the last line of its output) for the test to
judge; it asserts nothing itself.
"""

from __future__ import annotations

import asyncio
import errno
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fold.replay import replay_lines
from sinks.lineage import RawEvent
from sinks.store import ClickHouseStore
from sinks.writer import StoreWriter

EVENTS = 10_000
DEAD = 3


def _events() -> list[RawEvent]:
    received = datetime(2026, 3, 10, tzinfo=UTC)
    out = []
    for i in range(EVENTS):
        raw = json.dumps(
            {
                "type": "probe",
                "event_id": f"p-{i}",
                "service": "api",
                "region": "eu-west-1",
                "observed_at": f"2026-03-10T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "ok": i % 7 != 0,
            }
        ).encode()
        out.append(
            RawEvent(raw, received, {"topic": "availability.probes", "partition": 0, "offset": i})
        )
    return out


def _dead_letters() -> list[Any]:
    """Dead letters as the pipeline makes them (three lines that are not JSON)."""
    lines = [(i + 1, f"{{oops {i}".encode()) for i in range(DEAD)]
    return list(
        replay_lines(lines, datetime(2026, 4, 1, tzinfo=UTC), source_name="bad.jsonl").dead_letters
    )


def _fill(path: Path) -> int:
    """Write ``path`` until the filesystem is full; the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as fh:
        # large blocks first, then small ones, so not even a small part fits
        for size in (1 << 16, 512):
            block = b"\0" * size
            try:
                while True:
                    written += fh.write(block) or 0
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return written


def _counts(store: ClickHouseStore) -> dict[str, int]:
    db = store.db
    q = store.client.command
    return {
        "raw": int(q(f"SELECT count() FROM {db}.raw_events")),
        "raw_final": int(q(f"SELECT count() FROM {db}.raw_events FINAL")),
        "raw_ids": int(q(f"SELECT uniqExact(event_id) FROM {db}.raw_events")),
        "dead": int(q(f"SELECT count() FROM {db}.dead_letters")),
    }


async def run(directory: Path) -> dict[str, Any]:
    writer = StoreWriter(
        f"chdb://{directory / 'engine'}",
        settings={"batch_rows": 4_000},
        backoff_seconds=0.1,
        backoff_max_seconds=0.4,
    )
    await writer.call(lambda store: None)  # open and migrate while there is room
    filler = directory / "filler"
    filled = _fill(filler)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.02)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    write = asyncio.create_task(writer.write_audit(_events(), _dead_letters()))
    pending_seen: list[int] = []
    errors: set[str] = set()
    deadline = time.monotonic() + 60
    while writer.failures < 5 and time.monotonic() < deadline and not write.done():
        await asyncio.sleep(0.05)
        if writer.store_error is not None:
            errors.add(writer.store_error)
        pending_seen.append(await writer.call(lambda store: store.pending))
    failures_while_full = writer.failures
    done_while_full = write.done()
    store_ok_while_full = writer.store_ok
    filler.unlink()  # space again: the paused write goes through by itself
    written = await asyncio.wait_for(write, 60)
    stop.set()
    await ticker
    counts = await writer.call(_counts)
    pending_after = await writer.call(lambda store: store.pending)
    await writer.aclose()
    return {
        "filled_bytes": filled,
        "failures_while_full": failures_while_full,
        "done_while_full": done_while_full,
        "store_ok_while_full": store_ok_while_full,
        "store_ok_after": writer.store_ok,
        "errors": sorted(errors),
        "pending_max": max(pending_seen, default=0),
        "pending_min": min(pending_seen, default=0),
        "pending_after": pending_after,
        "written": written,
        "max_gap": max(gaps, default=0.0),
        "ticks": len(gaps),
        "counts": counts,
        "events": EVENTS,
        "dead_letters": DEAD,
    }


def main() -> None:
    result = asyncio.run(run(Path(sys.argv[1])))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
