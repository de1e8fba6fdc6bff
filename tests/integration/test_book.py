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

import pytest

from devkit.localkafka import LocalKafka
from devkit.simulate import Scenario, book_contracts, default_as_of, write_jsonl
from fold.replay import iter_lines
from sla.months import Month
from tests.integration.test_worker import WorkerProcess, _expected, _wait_for
from tools.produce import produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

SERVICES = ("api", "web", "db", "queue")


@pytest.fixture
def broker() -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


def _poll(port: int, stop: threading.Event, answers: list[tuple[float, int]]) -> None:
    """``/health`` every 0.2 s: (seconds to answer, HTTP status) once the server is up."""
    while not stop.is_set():
        t0 = time.monotonic()
        status = 0
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as r:
                r.read()
                status = r.status
        except urllib.error.HTTPError as exc:  # 503 while degraded: an answer all the same
            exc.read()
            status = exc.code
        except OSError:
            status = 0  # not listening yet
        if status:
            answers.append((time.monotonic() - t0, status))
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
    expected = _expected(lines, as_of)
    assert sum('"kind":"contract_month"' in o for o in expected) > 1500
    produce_lines(lines, broker)
    worker = WorkerProcess(broker, tmp_path, as_of)
    stop = threading.Event()
    answers: list[tuple[float, int]] = []
    poller = threading.Thread(target=_poll, args=(worker.port, stop, answers), daemon=True)
    poller.start()
    try:
        got = _wait_for(broker, expected, timeout=420.0)
    finally:
        stop.set()
        poller.join(timeout=60)
        worker.stop()
    assert got == expected
    assert len(answers) > 20
    slowest = max(seconds for seconds, _ in answers)
    assert slowest <= 1.0, f"/health took {slowest:.2f} s to answer"
    log = worker.log_path.read_text(errors="replace")
    assert "Heartbeat session expired" not in log
    assert "Heartbeat failed" not in log
