"""A book of business on a real broker: 1,000 contracts over the same services.

The statement stage recomputes on a thread of its own; while it works the
worker must keep answering ``/health`` (a load balancer's probe), keep its
Kafka heartbeats, and still publish exactly what ``replay`` computes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.book_of_business import book_contracts
from devkit.localkafka import LocalKafka
from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import iter_lines
from sla.months import Month
from tests.integration.worker_process import WorkerProcess, replay_outputs, wait_for_outputs
from tools.produce import produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

SERVICES = ("api", "web", "db", "queue")


@pytest.fixture
def broker() -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


def _poll(port: int, stop: threading.Event, answers: list[tuple[float, int, Any]]) -> None:
    """``/health`` every 0.2 s: (seconds to answer, HTTP status, body) once the server is up."""
    while not stop.is_set():
        t0 = time.monotonic()
        status, body = 0, b""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as r:
                body = r.read()
                status = r.status
        except urllib.error.HTTPError as exc:  # 503 while degraded: an answer all the same
            body = exc.read()
            status = exc.code
        except OSError:
            status = 0  # not listening yet
        if status:
            answers.append((time.monotonic() - t0, status, json.loads(body)))
        stop.wait(0.2)


def test_a_thousand_contracts_give_replay_statements_and_health_always_answers(
    broker: str, tmp_path: Path
) -> None:
    sc = Scenario(services=SERVICES, probe_days=2, seed=23)
    path = tmp_path / "month.jsonl"
    write_jsonl(sc, str(path))
    lines = [raw for _, raw in iter_lines(path.read_bytes().splitlines())]
    lines += [json.dumps(e).encode() for e in book_contracts(1000, SERVICES, Month(2026, 3))]
    as_of = default_as_of(sc).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = replay_outputs(lines, as_of)
    assert sum('"kind":"contract_month"' in o for o in expected) > 1500
    produce_lines(lines, broker)
    worker = WorkerProcess(broker, tmp_path, as_of, health_port=True)
    assert worker.health_port is not None
    stop = threading.Event()
    # the HTTP API's /health (on the event loop) and --health-port's (on a thread)
    answers: list[tuple[float, int, Any]] = []
    reports: list[tuple[float, int, Any]] = []
    pollers = [
        threading.Thread(target=_poll, args=(port, stop, into), daemon=True)
        for port, into in ((worker.port, answers), (worker.health_port, reports))
    ]
    for poller in pollers:
        poller.start()
    try:
        got = wait_for_outputs(broker, expected, timeout=420.0)
    finally:
        stop.set()
        for poller in pollers:
            poller.join(timeout=60)
        worker.stop()
    assert got == expected
    for name, polled in (("/health", answers), ("--health-port /health", reports)):
        assert len(polled) > 20, name
        slowest = max(seconds for seconds, _, _ in polled)
        assert slowest <= 1.0, f"{name} took {slowest:.2f} s to answer"
    # the thread answered from the loop's reports, and the loop never stopped reporting
    assert not [body for _, _, body in reports if body["status"] == "stalled"]
    assert {body["status"] for _, status, body in reports if status == 200} == {"ok"}
    assert max(body.get("report_age_seconds", 0.0) for _, _, body in reports) < 5.0
    # both tell the same story: the thread's answer is the loop's report and its age
    assert set(reports[-1][2]) == {*answers[-1][2], "report_age_seconds"}
    log = worker.log_path.read_text(errors="replace")
    assert "Heartbeat session expired" not in log
    assert "Heartbeat failed" not in log
