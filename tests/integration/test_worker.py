"""The streaming worker on a real Kafka broker: same statements as replay, crashes, late data.

Each test gets its own broker (the topic names are a closed registry), runs
``availability worker`` as a subprocess with a fixed clock, and reads the
output topics the way billing does (latest revision per key).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.localkafka import LocalKafka, free_port
from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas.codec import dumps
from sla.timeutil import parse_instant
from streams import topics
from tests.helpers import contract, incident, probes_every_minute
from tools.produce import consume_outputs, latest_outputs, produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

BIN = Path(sys.executable).parent
OUTPUT_TOPICS = [
    topics.STATEMENTS.name,
    topics.SERVICE_MONTHS.name,
    topics.CLAIM_DECISIONS.name,
    topics.SUPPORT.name,
]


@pytest.fixture
def broker() -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


class WorkerProcess:
    def __init__(
        self,
        bootstrap: str,
        cwd: Path,
        as_of: str,
        app_id: str = "test",
        store: str = "none",
        env: dict[str, str] | None = None,
        clock_start: str | None = None,
        health_port: bool = False,
    ) -> None:
        clock = ["--clock-start", clock_start] if clock_start else ["--as-of", as_of]
        self.port = free_port()
        #: the port of the thread-served ``/health`` (``--health-port``), when asked for
        self.health_port = free_port() if health_port else None
        health = [] if self.health_port is None else ["--health-port", str(self.health_port)]
        self.log_path = cwd / f"worker-{self.port}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(BIN / "availability"),
                "worker",
                "--bootstrap",
                bootstrap,
                "--app-id",
                app_id,
                *clock,
                "--web-port",
                str(self.port),
                *health,
                "--store",
                store,
            ],
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def get(self, path: str, token: str | None = None) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.loads(r.read())

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.log.close()


def _expected(lines: list[bytes], as_of: str) -> list[str]:
    res = replay_lines(list(enumerate(lines, start=1)), parse_instant(as_of))
    return sorted(dumps(o) for o in res.outputs)


def _wait_for(bootstrap: str, expected: list[str], timeout: float = 240.0) -> list[str]:
    """The outputs as billing would keep them, once they equal ``expected`` (or at timeout)."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while time.monotonic() < deadline:
        latest = latest_outputs(consume_outputs(bootstrap, OUTPUT_TOPICS, timeout_ms=1500))
        got = sorted(dumps(o) for o in latest.values())
        if got == expected:
            return got
        time.sleep(2)
    _explain(got, expected)
    return got


def _explain(got: list[str], expected: list[str]) -> None:
    """Print which fields differ (pytest shows it on failure)."""

    def key(o: dict[str, Any]) -> str:
        return "|".join(
            str(o.get(k))
            for k in (
                "kind",
                "contract_id",
                "service",
                "claim_id",
                "ticket_id",
                "alert",
                "client_id",
                "severity",
                "month",
            )
        )

    g = {key(json.loads(x)): json.loads(x) for x in got}
    for x in expected:
        e = json.loads(x)
        o = g.get(key(e), {})
        diff = [(f, e.get(f), o.get(f)) for f in e if e.get(f) != o.get(f)]
        if diff:
            print("DIFF", key(e), [(f, str(a)[:80], str(b)[:80]) for f, a, b in diff[:5]])
            if "intervals" in e and "intervals" in o:
                for part in ("no_data", "counted"):
                    a, b = e["intervals"][part], o["intervals"][part]
                    print(
                        "INTERVALS",
                        part,
                        [x for x in b if x not in a],
                        [x for x in a if x not in b],
                    )


def _scenario_lines(tmp: Path) -> tuple[list[bytes], str]:
    sc = Scenario(
        services=("api", "web"),
        regions=("eu-west-1", "us-east-1"),
        duplicate_rate=0.02,
        probe_days=8,
    )
    path = tmp / "month.jsonl"
    write_jsonl(sc, str(path))
    with path.open("rb") as fh:
        lines = [raw for _, raw in iter_lines(fh)]
    as_of = default_as_of(sc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return lines, as_of


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
    lines, as_of = _scenario_lines(tmp_path)
    expected = _expected(lines, as_of)
    produce_lines(lines, broker)
    worker = WorkerProcess(broker, tmp_path, as_of)
    try:
        got = _wait_for(broker, expected)
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
    lines, as_of = _scenario_lines(tmp_path)
    expected = _expected(lines, as_of)
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
        assert _wait_for(broker, expected) == expected
    finally:
        worker.stop()


def _march_statement(broker: str) -> dict[str, Any]:
    """The latest published statement of March 2026 (there is one contract)."""
    latest = latest_outputs(consume_outputs(broker, [topics.STATEMENTS.name]))
    [march] = [o for o in latest.values() if o["month"] == "2026-03"]
    found: dict[str, Any] = march
    return found


def test_reclassified_to_aws_after_final_gives_a_revised_statement(
    broker: str, tmp_path: Path
) -> None:
    as_of = "2026-05-01T00:00:00Z"
    first = [
        contract("PO-9", services={"api": "1000.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False),
        incident(
            "INC-1",
            ["api"],
            "2026-03-10T00:00:00Z",
            "2026-03-10T00:50:00Z",
            recorded_at="2026-03-10T01:00:00Z",
            event_id="inc-1-r0",
        ),
    ]
    raw = [json.dumps(e).encode() for e in first]
    produce_lines(raw, broker)
    worker = WorkerProcess(broker, tmp_path, as_of)
    try:
        assert _wait_for(broker, _expected(raw, as_of)) == _expected(raw, as_of)
        before = _march_statement(broker)
        assert (before["status"], before["revision"], before["credit_amount"]) == (
            "final",
            0,
            "100.00",
        )
        # root cause found after billing: AWS. Recorded on 2026-04-20, after finality.
        later = incident(
            "INC-1",
            ["api"],
            "2026-03-10T00:00:00Z",
            "2026-03-10T00:50:00Z",
            cause="aws",
            revision=1,
            recorded_at="2026-04-20T00:00:00Z",
            event_id="inc-1-r1",
        )
        produce_lines([json.dumps(later).encode()], broker)
        deadline = time.monotonic() + 120
        after: dict[str, Any] = before
        while time.monotonic() < deadline and after["revision"] == 0:
            time.sleep(1)
            after = _march_statement(broker)
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
        expected = _expected(raw, as_of)
        assert _wait_for(broker, expected) == expected
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
