"""Kafka faults, injected for real: the broker killed (SIGKILL) under a running worker, a tombstone.

- The broker is killed outright for about 50 s (longer than aiokafka's 40-s
  request timeout, after which its own tasks used to cancel the probe loop
  for good) and started again on the same ports with the same data
  (:meth:`devkit.localkafka.LocalKafka.kill`). Once while the worker reads
  a backlog, once right after new probes arrive, while the probe loop
  checkpoints them. Meanwhile ``/health`` must answer 503 ``degraded`` and
  the degraded gauge must say why, and the log must not flood. Afterwards
  the outputs must equal ``replay`` of the same file, and every message on
  the output topics, read from the start, must be one of those outputs: as
  the clock is after every month's finality, every statement is final, so a
  message computed from a partial backlog would differ.
- A null value (a tombstone) on a stage-2 input topic, in the same batch as
  two valid incidents: it is dead-lettered and the incidents are folded.
- A broker that refuses connections: the probe loop keeps starting again
  with a growing pause, one log line per failure, and never ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.localkafka import LocalKafka
from fold.replay import replay_lines
from schemas.codec import dumps
from sla.timeutil import parse_instant
from streams import topics
from streams.probeloop import ProbeLoop
from tests.helpers import contract, incident, probes_every_minute
from tests.integration.conftest import local_kafka_tools  # noqa: F401  # the fixture
from tests.integration.worker_process import (
    OUTPUT_TOPICS,
    WorkerProcess,
    replay_outputs,
    scenario_lines,
    wait_for_outputs,
)
from tools.produce import consume_outputs, produce_lines, producer

#: a minute: longer than the request timeouts of the Kafka clients (40 s for aiokafka)
DOWN_SECONDS = 60.0


@pytest.fixture
def kafka() -> Iterator[LocalKafka]:
    """A broker of the test's own (it is killed and started again)."""
    with LocalKafka() as broker:
        yield broker


def _health(worker: WorkerProcess) -> tuple[int, dict[str, Any]]:
    """Status code and body of ``/health`` (503 is an answer too)."""
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}/health")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _metrics(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def _wait_health(worker: WorkerProcess, what: str, ok: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, worker.log_path.read_text()[-3000:]
        try:
            last = _health(worker)
        except OSError as exc:  # not listening yet
            last = exc
        else:
            if ok(*last):
                return dict(last[1])
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last /health: {last}")


def _outage(kafka: LocalKafka, worker: WorkerProcess) -> None:
    """Kill the broker for ``DOWN_SECONDS``; check what the worker says meanwhile."""
    lines_before = len(worker.log_path.read_bytes().splitlines())
    kafka.kill()
    went_down = time.monotonic()
    body = _wait_health(
        worker, "a degraded /health", lambda code, b: code == 503, timeout=DOWN_SECONDS - 10
    )
    assert body["status"] == "degraded"
    assert "inputs_unreachable" in body["degraded"], body
    assert body["caught_up"] is False
    assert body["lag"] is None  # unknown, not the last value measured
    assert 'availability_worker_degraded{reason="inputs_unreachable"} 1.0' in _metrics(worker)
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - went_down)))
    # the Kafka clients retry many times a second; each kind of complaint is
    # logged once per 30 s, so the whole outage costs a few dozen lines
    logged = len(worker.log_path.read_bytes().splitlines()) - lines_before
    assert logged < 300, worker.log_path.read_text()[-5000:]
    kafka.start()


def _check_every_message(bootstrap: str, expected: list[str]) -> None:
    """Every final (or revised) output and claim decision ever published is one of ``expected``.

    Provisional figures may be published from a partial backlog (they are
    month-to-date and say so); those held until the worker caught up may not.
    """
    allowed = set(expected)
    held = 0
    for _, _, value in consume_outputs(bootstrap, OUTPUT_TOPICS, timeout_ms=2000):
        out = json.loads(value)
        if out.get("status") in ("final", "revised") or out["kind"] == "claim_decision":
            held += 1
            assert dumps(out) in allowed, f"published while lagging: {dumps(out)[:600]}"
    assert held >= sum(
        1
        for x in expected
        if '"status":"final"' in x or '"status":"revised"' in x or '"kind":"claim_decision"' in x
    )


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("local_kafka_tools")
def test_broker_killed_during_a_backlog_and_a_checkpoint_changes_no_output(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    early, as_of = scenario_lines(tmp_path)
    # new probes arrive once the worker has caught up and published its finals:
    # a second passing probe from a region in a minute it already passed, so the
    # ledgers change (and are checkpointed) while no output may (a probe that
    # changed a published final would rightly give it a revision replay has not)
    passing = [json.loads(raw) for raw in early if b'"ok": true' in raw][:2000]
    late = [json.dumps({**p, "event_id": p["event_id"] + "-again"}).encode() for p in passing]
    lines = early + late
    expected = replay_outputs(lines, as_of)
    assert expected == replay_outputs(early, as_of)
    assert any('"kind":"claim_decision"' in x for x in expected)
    assert any('"kind":"contract_month"' in x and '"status":"revised"' in x for x in expected)
    bootstrap = kafka.bootstrap_servers
    produce_lines(early, bootstrap)
    worker = WorkerProcess(bootstrap, tmp_path, as_of)
    try:
        # 1. the worker is reading the backlog: its probe stage has checkpointed once
        _wait_health(
            worker,
            "the first probe checkpoint",
            lambda code, b: b["probes"]["checkpoints"] >= 1 and not b["caught_up"],
            timeout=120,
        )
        _outage(kafka, worker)
        _wait_health(
            worker, "a caught-up worker", lambda code, b: code == 200 and b["caught_up"], 240
        )
        # 2. new probes, and the broker killed while the probe loop checkpoints them
        # (it reads 2,000 probes in well under a second, so a lag measurement may
        # never see them pending: wait for the batch that folds them instead)
        batches = _health(worker)[1]["probes"]["batches"]
        produce_lines(late, bootstrap)
        _wait_health(
            worker,
            "the new probes being read",
            lambda code, b: b["probes"]["state"] == "running" and b["probes"]["batches"] > batches,
            timeout=60,
        )
        _outage(kafka, worker)
        assert wait_for_outputs(bootstrap, expected) == expected
        _check_every_message(bootstrap, expected)
        health = _wait_health(
            worker, "an ok /health", lambda code, b: code == 200 and b["caught_up"], 60
        )
        assert health["status"] == "ok"
        assert health["degraded"] == {}
        assert health["probes"]["state"] == "running"
        assert 'availability_worker_degraded{reason="probe_stage_down"} 0.0' in _metrics(worker)
    finally:
        worker.stop()


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("local_kafka_tools")
def test_a_tombstone_beside_valid_incidents_costs_nothing(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    as_of = "2026-04-10T00:00:00Z"
    events = [
        contract("PO-7", services={"api": "1000.00", "web": "500.00"}),
        *probes_every_minute("api", "2026-03-05T10:00:00Z", 120),
        *probes_every_minute("web", "2026-03-05T10:00:00Z", 120),
    ]
    incidents = [
        incident("INC-1", ["api"], "2026-03-05T10:10:00Z", "2026-03-05T11:00:00Z"),
        incident("INC-2", ["web"], "2026-03-05T11:20:00Z", "2026-03-05T11:30:00Z"),
    ]
    lines = [json.dumps(e).encode() for e in [*events, *incidents]]
    expected = replay_outputs(lines, as_of)
    assert any('"contract_id":"PO-7"' in x and '"meets_target":false' in x for x in expected)
    # each incident shows in the outputs: losing either one would be seen
    for lost in incidents:
        kept = [json.dumps(e).encode() for e in [*events, *incidents] if e is not lost]
        assert replay_outputs(kept, as_of) != expected
    bootstrap = kafka.bootstrap_servers
    produce_lines([json.dumps(e).encode() for e in events], bootstrap)
    prod = producer(bootstrap)
    try:
        name = topics.INCIDENTS.name
        first, second = (json.dumps(i).encode() for i in incidents)
        for key, value in ((b"INC-1|0|a", first), (b"INC-0|0|x", None), (b"INC-2|0|b", second)):
            prod.send(name, key=key, value=value)
        prod.flush(timeout=60)
    finally:
        prod.close(timeout=10)
    worker = WorkerProcess(bootstrap, tmp_path, as_of)
    try:
        assert wait_for_outputs(bootstrap, expected, timeout=180) == expected
        dead = [json.loads(v) for _, _, v in consume_outputs(bootstrap, [topics.DEAD_LETTERS.name])]
        assert [(d["reason"], d["source"]["topic"], d["source"]["offset"]) for d in dead] == [
            ("invalid_json", topics.INCIDENTS.name, 1)
        ]
        assert worker.get("/dead-letters")["dead_letters"] == {"invalid_json": 1}
        health = worker.get("/health")
        assert health["statements"]["failures"] == 0
    finally:
        worker.stop()
    # the count comes from the topic: a restarted worker, which rejected nothing, has it too
    worker = WorkerProcess(bootstrap, tmp_path, as_of)
    try:
        _wait_health(worker, "a restarted worker", lambda code, b: code == 200, timeout=120)
        deadline = time.monotonic() + 30
        while worker.get("/dead-letters")["dead_letters"] != {"invalid_json": 1}:
            assert time.monotonic() < deadline, worker.get("/dead-letters")
            time.sleep(0.5)
    finally:
        worker.stop()
    replayed = replay_lines(list(enumerate(lines, start=1)), parse_instant(as_of))
    assert not replayed.dead_letters


def test_a_refused_broker_restarts_the_probe_loop_with_backoff_and_never_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def run() -> ProbeLoop:
        loop = ProbeLoop(f"127.0.0.1:{port}", "refused", start_timeout=1.0)
        task = asyncio.create_task(loop.run_forever(max_delay=2.0))
        await asyncio.sleep(12)
        assert not task.done()  # still trying: no failure ends it
        assert loop.state == "restarting"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.state == "stopped"
        return loop

    with caplog.at_level(logging.ERROR, logger="streams.probeloop"):
        loop = asyncio.run(run())
    failures = [r for r in caplog.records if "the probe loop failed" in r.getMessage()]
    # a second or so per attempt and pauses of 1, 2, 2, ... s: a handful in 12 s, one line each
    assert 2 <= loop.failures <= 8
    assert len(failures) == loop.failures
    assert loop.last_error
