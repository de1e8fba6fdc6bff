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
is written exactly once. The worker-level test runs ``availability worker``
on a real broker with a store that never answers, then one that refuses,
and checks that ``/health`` keeps answering within 1 s and that neither
stage commits an offset before its rows are written, not even when the
worker is stopped gracefully (SIGTERM) while it waits; a worker on a working
store then writes every raw event and every output exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devkit.localkafka import free_port
from sinks.lineage import RawEvent
from sinks.writer import StoreWriter
from streams import router, topics

pytestmark = pytest.mark.clickhouse

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """The port of a real TCP server on 127.0.0.1 that accepts and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read, never answered

    thread = threading.Thread(target=accept, name="black-hole", daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        done.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


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


# --- the worker on a real broker ------------------------------------------------


def _health(port: int) -> tuple[float, dict[str, Any] | None]:
    """Seconds ``/health`` took to answer, and its body (None if it did not within 5 s).

    A degraded worker answers 503 with the same body: an answer all the same.
    """
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            body: dict[str, Any] = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    except OSError:
        return time.monotonic() - started, None
    return time.monotonic() - started, body


def _committed(bootstrap: str, groups: list[str]) -> dict[str, int]:
    """Committed offsets of ``groups``, ``topic:partition`` -> offset (only those committed)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fault-test")
    try:
        out: dict[str, int] = {}
        for group in groups:
            for tp, meta in admin.list_group_offsets({group: None}).get(group, {}).items():
                if meta.offset >= 0:
                    out[f"{group}/{tp.topic}:{tp.partition}"] = int(meta.offset)
        return out
    finally:
        admin.close()


def _stage_commits(committed: dict[str, int]) -> dict[str, int]:
    """The commits of the stages that write to the store (not the router's).

    The router commits a public input once it is forwarded to the statement
    partitions (it writes nothing to the store); the forwarded copy is what
    the statement stage audits and commits only once the store has it.
    """
    routed = {spec.name for spec in router.ROUTED}
    return {
        k: v for k, v in committed.items() if k.split("/", 1)[1].rsplit(":", 1)[0] not in routed
    }


@pytest.mark.kafka
@pytest.mark.slow
def test_worker_keeps_health_and_commits_nothing_while_the_store_fails_then_stores_all_once(
    broker: str, black_hole: int, tmp_path: Path
) -> None:
    from fold.replay import replay_lines
    from schemas.codec import dumps
    from tests.helpers import contract, probes_every_minute
    from tests.integration.test_worker import OUTPUT_TOPICS, WorkerProcess
    from tools.produce import consume_outputs, latest_outputs, produce_lines

    as_of = "2026-05-01T00:00:00Z"
    events = [
        contract("PO-7", services={"api": "500.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 60, ok=False),
    ]
    raw = [json.dumps(e).encode() for e in events] + [b'{"type":"probe","oops"']
    produce_lines(raw, broker)
    bounded = "/sla?connect_timeout=1&send_receive_timeout=2"
    # the worker that never reaches its store shares its group with the one restarted
    # on a working store; the refused one has a group of its own (no wait for a dead member)
    failing = {
        "faults": f"http://127.0.0.1:{black_hole}{bounded}",
        "refused": f"http://127.0.0.1:{free_port()}{bounded}",
    }
    for app_id, store in failing.items():
        groups = [app_id, f"{app_id}-probes"]  # the statement stage's group and the probe loop's
        worker = WorkerProcess(broker, tmp_path, as_of, app_id=app_id, store=store)
        try:
            deadline = time.monotonic() + 90
            body: dict[str, Any] | None = None
            while time.monotonic() < deadline:
                _, body = _health(worker.port)
                busy = (body or {}).get("busy", {})
                if {s.get("step") for s in busy.values()} == {"audit"} and len(busy) == 2:
                    break  # both stages hold a batch and wait for the store
                assert worker.proc.poll() is None, worker.log_path.read_text()[-3000:]
                time.sleep(0.5)
            else:
                pytest.fail(f"the stages never reached the store: {body}")
            # the loop is free: every /health answers within 1 s while both stages wait
            took = []
            for _ in range(10):
                seconds, body = _health(worker.port)
                assert body is not None
                took.append(seconds)
                time.sleep(0.3)
            assert max(took) < 1.0, took
            assert worker.proc.poll() is None  # a store error did not end the worker
            assert _stage_commits(_committed(broker, groups)) == {}
            if app_id == "refused":
                # a graceful stop with rows unwritten leaves without committing them
                worker.proc.send_signal(signal.SIGTERM)
                assert worker.proc.wait(timeout=30) == 75
            else:
                worker.kill9()
            assert _stage_commits(_committed(broker, groups)) == {}
        finally:
            worker.stop()
    # a working store: the events were never committed, so they are read again and stored
    db = tmp_path / "store"
    expected = sorted(
        dumps(o)
        for o in replay_lines(
            list(enumerate(raw, start=1)), datetime(2026, 5, 1, tzinfo=UTC)
        ).outputs
    )
    worker = WorkerProcess(broker, tmp_path, as_of, app_id="faults", store=f"chdb://{db}")
    try:
        deadline = time.monotonic() + 120
        got: list[str] = []
        while time.monotonic() < deadline and got != expected:
            time.sleep(1)
            latest = latest_outputs(consume_outputs(broker, OUTPUT_TOPICS, timeout_ms=1000))
            got = sorted(dumps(o) for o in latest.values())
        assert got == expected
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            committed = _committed(broker, ["faults"])
            if committed.get(f"faults/{topics.CONTRACTS.name}:0") == 1:
                break
            time.sleep(1)
        assert committed.get(f"faults/{topics.CONTRACTS.name}:0") == 1
        # an output reaches its topic before the store (send, then store, then
        # confirm): stop only once nothing published is still unconfirmed
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline:
            _, body = _health(worker.port)
            if body is not None and body["pending_outputs"] == body["unconfirmed_outputs"] == 0:
                break
            time.sleep(0.5)
        assert body is not None
        assert body["pending_outputs"] == body["unconfirmed_outputs"] == 0, body
    finally:
        worker.stop()
    outputs = [json.loads(x) for x in expected]
    months = sorted({o["month"] for o in outputs if o["kind"] == "service_month"})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.read_store", f"chdb://{db}", *months],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    stored = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stored["raw"] == [len(events), len(events)]  # every raw event, once
    assert stored["raw_final"] == len(events)
    assert stored["dead"] == {"invalid_json": 1}
    statements = [o for o in outputs if o["kind"] == "contract_month"]
    assert len(statements) >= 1
    # the latest revision of each month is stored, each revision once
    latest = {(st["contract_id"], st["month"]): st for st in stored["statements"]}
    assert latest == {(st["contract_id"], st["month"]): st for st in statements}
    assert stored["copies"] == 1
    assert stored["services"] == {
        m: [o for o in outputs if o["kind"] == "service_month" and o["month"] == m] for m in months
    }
