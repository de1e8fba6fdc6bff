"""A whole worker on a real broker while its ClickHouse store fails, then works again.

``availability worker`` runs with a store that never answers (a real TCP
server that accepts and stays silent, :func:`black_hole`), then one that
refuses connections. Both stages must reach the store with a batch and wait
there: ``/health`` keeps answering within 1 s, the worker does not end, and
neither stage commits an offset before its rows are written, not even when
it is stopped gracefully (SIGTERM) while it waits or killed with -9. A worker
of the same group on a working store then reads those events again and
writes every raw event and every output exactly once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devkit.localkafka import free_port
from schemas.codec import dumps
from streams import router, topics

pytestmark = pytest.mark.clickhouse

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-05-01T00:00:00Z"
#: a store whose every call gives up within seconds
BOUNDED = "/sla?connect_timeout=1&send_receive_timeout=2"


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


def _held_at_the_store(broker: str, tmp_path: Path, app_id: str, store: str) -> None:
    """A worker on a failing ``store``: it waits there, answers, commits nothing, then stops.

    Stopped gracefully (SIGTERM, exit 75: rows unwritten) for ``refused``,
    killed with -9 otherwise; either way nothing is committed after.
    """
    from tests.integration.worker_process import WorkerProcess

    groups = [app_id, f"{app_id}-probes"]  # the statement stage's group and the probe loop's
    worker = WorkerProcess(broker, tmp_path, AS_OF, app_id=app_id, store=store)
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


def _stores_all(broker: str, tmp_path: Path, db: Path, expected: list[str]) -> None:
    """A worker of the ``faults`` group on a working store publishes and commits everything."""
    from tests.integration.worker_process import OUTPUT_TOPICS, WorkerProcess
    from tools.produce import consume_outputs, latest_outputs

    worker = WorkerProcess(broker, tmp_path, AS_OF, app_id="faults", store=f"chdb://{db}")
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


def _stored_once(db: Path, n_events: int, outputs: list[dict[str, Any]]) -> None:
    """Every raw event and the latest revision of every output is in the store, once."""
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
    assert stored["raw"] == [n_events, n_events]  # every raw event, once
    assert stored["raw_final"] == n_events
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


@pytest.mark.kafka
@pytest.mark.slow
def test_worker_keeps_health_and_commits_nothing_while_the_store_fails_then_stores_all_once(
    broker: str, black_hole: int, tmp_path: Path
) -> None:
    from fold.replay import replay_lines
    from tests.helpers import contract, probes_every_minute
    from tools.produce import produce_lines

    events = [
        contract("PO-7", services={"api": "500.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 60, ok=False),
    ]
    raw = [json.dumps(e).encode() for e in events] + [b'{"type":"probe","oops"']
    produce_lines(raw, broker)
    # the worker that never reaches its store shares its group with the one restarted
    # on a working store; the refused one has a group of its own (no wait for a dead member)
    _held_at_the_store(broker, tmp_path, "faults", f"http://127.0.0.1:{black_hole}{BOUNDED}")
    _held_at_the_store(broker, tmp_path, "refused", f"http://127.0.0.1:{free_port()}{BOUNDED}")
    # a working store: the events were never committed, so they are read again and stored
    outputs = replay_lines(list(enumerate(raw, start=1)), datetime(2026, 5, 1, tzinfo=UTC)).outputs
    expected = sorted(dumps(o) for o in outputs)
    db = tmp_path / "store"
    _stores_all(broker, tmp_path, db, expected)
    _stored_once(db, len(events), [json.loads(x) for x in expected])
