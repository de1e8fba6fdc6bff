"""The streaming worker on a real Kafka broker: same statements as replay, crashes, late data.

Each test gets its own broker (the topic names are a closed registry), runs
``availability worker`` as a subprocess with a fixed clock, and reads the
output topics the way billing does (latest revision per key).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.localkafka import LocalKafka
from fold.replay import replay_lines
from sla.timeutil import parse_instant
from streams import topics
from tests.helpers import contract, incident, probes_every_minute
from tests.integration.worker_process import (
    BIN,
    WorkerProcess,
    replay_outputs,
    scenario_lines,
    wait_for_outputs,
)
from tools.produce import consume_outputs, latest_outputs, produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]


@pytest.fixture
def broker() -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


def _dead_letters_as_replayed(
    broker: str, worker: WorkerProcess, lines: list[bytes], as_of: str
) -> None:
    """The dead letters on their topic and in ``/dead-letters`` are replay's, with their sources."""
    dead = list(consume_outputs(broker, [topics.DEAD_LETTERS.name]))
    replayed = replay_lines(list(enumerate(lines, start=1)), parse_instant(as_of))
    assert len(dead) == len(replayed.dead_letters)
    reasons = sorted(json.loads(v)["reason"] for _, _, v in dead)
    assert reasons == sorted(d.reason for d in replayed.dead_letters)
    sources = [json.loads(v)["source"] for _, _, v in dead]
    assert {s["topic"] for s in sources} <= {topics.PROBES.name, topics.INCIDENTS.name}
    assert any(s["topic"] == topics.PROBES.name for s in sources)
    assert all(isinstance(s["offset"], int) and isinstance(s["partition"], int) for s in sources)
    counts = worker.get("/dead-letters")["dead_letters"]
    assert sum(counts.values()) == len(replayed.dead_letters)


def _report_reads_the_worker(worker: WorkerProcess, st: dict[str, Any]) -> None:
    """``availability report --worker`` gives the statement the worker serves."""
    # the report reads the worker's API when the worker owns the embedded store
    report = subprocess.run(
        [
            str(BIN / "availability"),
            "report",
            "--worker",
            f"http://127.0.0.1:{worker.port}",
            "--contract",
            "PO-1001",
            "--month",
            "2026-03",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data = json.loads(report.stdout)
    assert data["statement"]["uptime_percent"] == st["uptime_percent"]
    assert [c["claim_id"] for c in data["claims"]] == ["CLM-1", "CLM-2"]


def test_worker_gives_the_replay_statements_and_dead_letters(broker: str, tmp_path: Path) -> None:
    lines, as_of = scenario_lines(tmp_path)
    expected = replay_outputs(lines, as_of)
    produce_lines(lines, broker)
    worker = WorkerProcess(broker, tmp_path, as_of)
    try:
        got = wait_for_outputs(broker, expected)
        assert got == expected
        health = worker.get("/health")
        assert health["status"] == "ok"
        # the last emit cycle that recomputed: each owned partition's two halves, timed
        cycle = health["statements"]["last_cycle"]
        assert {t["partition"] for t in cycle["pass1"]} == set(health["statement_partitions"])
        for t in cycle["pass1"] + cycle["pass2"]:
            assert t["recompute_seconds"] >= 0
            assert t["publish_seconds"] >= 0
            assert t["published"] >= 0
        assert cycle["seconds"] >= max(t["recompute_seconds"] for t in cycle["pass1"])
        st = worker.get("/statements/PO-1001/2026-03")
        assert st == next(
            json.loads(x)
            for x in expected
            if x.startswith('{"kind":"contract_month","contract_id":"PO-1001"')
            and '"month":"2026-03"' in x
        )
        _dead_letters_as_replayed(broker, worker, lines, as_of)
        _report_reads_the_worker(worker, st)
        metrics = (
            urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10)
            .read()
            .decode()
        )
        assert 'availability_dead_letters_total{reason="invalid_json"}' in metrics
    finally:
        worker.stop()


def test_kill_9_mid_stream_then_restart_loses_and_doubles_nothing(
    broker: str, tmp_path: Path
) -> None:
    lines, as_of = scenario_lines(tmp_path)
    expected = replay_outputs(lines, as_of)
    half = len(lines) // 2
    produce_lines(lines[:half], broker)
    worker = WorkerProcess(broker, tmp_path, as_of)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if list(consume_outputs(broker, [topics.MINUTE_STATES.name], timeout_ms=500)):
                break
            time.sleep(0.5)
        time.sleep(3)
        worker.kill9()
    finally:
        worker.stop()
    # the rest, plus a redelivery of a slice of what was already sent
    produce_lines(lines[half:] + lines[half - 5000 : half], broker)
    worker = WorkerProcess(broker, tmp_path, as_of)
    try:
        assert wait_for_outputs(broker, expected) == expected
    finally:
        worker.stop()


def _march_statement(broker: str) -> dict[str, Any]:
    """The latest published statement of March 2026 (there is one contract)."""
    latest = latest_outputs(consume_outputs(broker, [topics.STATEMENTS.name]))
    [march] = [o for o in latest.values() if o["month"] == "2026-03"]
    found: dict[str, Any] = march
    return found


def _revised_after(broker: str, before: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """The March statement once its revision moved past ``before``'s (or at timeout)."""
    deadline = time.monotonic() + timeout
    after = before
    while time.monotonic() < deadline and after["revision"] == before["revision"]:
        time.sleep(1)
        after = _march_statement(broker)
    return after


def test_reclassified_to_aws_after_final_gives_a_revised_statement(
    broker: str, tmp_path: Path
) -> None:
    as_of = "2026-05-01T00:00:00Z"
    outage = ("INC-1", ["api"], "2026-03-10T00:00:00Z", "2026-03-10T00:50:00Z")
    first = [
        contract("PO-9", services={"api": "1000.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False),
        incident(*outage, recorded_at="2026-03-10T01:00:00Z", event_id="inc-1-r0"),
    ]
    raw = [json.dumps(e).encode() for e in first]
    produce_lines(raw, broker)
    worker = WorkerProcess(broker, tmp_path, as_of)
    try:
        assert wait_for_outputs(broker, replay_outputs(raw, as_of)) == replay_outputs(raw, as_of)
        before = _march_statement(broker)
        assert (before["status"], before["revision"], before["credit_amount"]) == (
            "final",
            0,
            "100.00",
        )
        # root cause found after billing: AWS. Recorded on 2026-04-20, after finality.
        later = incident(
            *outage,
            cause="aws",
            revision=1,
            recorded_at="2026-04-20T00:00:00Z",
            event_id="inc-1-r1",
        )
        produce_lines([json.dumps(later).encode()], broker)
        after = _revised_after(broker, before)
        assert (after["status"], after["revision"], after["credit_amount"]) == (
            "revised",
            1,
            "0.00",
        )
        history = [
            h
            for h in (
                json.loads(v) for _, _, v in consume_outputs(broker, [topics.STATEMENTS.name])
            )
            if h["month"] == "2026-03"
        ]
        assert [(h["status"], h["revision"]) for h in history][-2:] == [
            ("final", 0),
            ("revised", 1),
        ]
    finally:
        worker.stop()


def test_worker_stores_outputs_raw_events_and_dead_letters_in_clickhouse(
    broker: str, tmp_path: Path
) -> None:
    as_of = "2026-05-01T00:00:00Z"
    events = [
        contract("PO-7", services={"api": "500.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 60, ok=False),
    ]
    raw = [json.dumps(e).encode() for e in events] + [b'{"type":"probe","oops"']
    produce_lines(raw, broker)
    db = tmp_path / "store"
    worker = WorkerProcess(broker, tmp_path, as_of, store=f"chdb://{db}")
    try:
        expected = replay_outputs(raw, as_of)
        assert wait_for_outputs(broker, expected) == expected
        time.sleep(3)
    finally:
        worker.stop()
    # the worker owned the chDB path; read it from a fresh process
    query = (
        "from sinks.store import connect\n"
        f"s = connect('chdb://{db}')\n"
        "st = s.latest_contract_month('PO-7', '2026-03')\n"
        "c = s.client\n"
        "raw = c.query(f'SELECT count(), countIf(source_kind = {{k:String}}) '\n"
        "              f'FROM {s.db}.raw_events', parameters={'k': 'kafka'}).result_rows\n"
        "dead = s.dead_letter_counts()\n"
        "import json; print(json.dumps([st['credit_amount'], list(raw[0]), dead]))\n"
        "s.close()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", query],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    credit, (n_raw, n_kafka), dead = json.loads(proc.stdout.strip().splitlines()[-1])
    assert credit == "50.00"
    assert n_raw == len(events)
    assert n_kafka == len(events)
    assert dead == {"invalid_json": 1}
