"""End to end: a real Prometheus server scrapes a running worker and evaluates the rules.

The small March month of the Prometheus tests goes through Kafka into an
``availability worker`` process (fixed clock: 15 March 2026); Prometheus
scrapes the worker's own ``/metrics`` page every second with
deploy/prometheus/rules.yml loaded, and the alerts are read back through
Prometheus's HTTP API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.localkafka import LocalKafka
from tests.helpers import Prometheus, need_tool, run_prometheus
from tests.integration.worker_process import WorkerProcess
from tests.prometheus.conftest import PROMETHEUS_DIR, small_events
from tools.produce import produce_lines

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.usefixtures("local_kafka_tools"),
]

AS_OF = "2026-03-15T00:00:00Z"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerProcess]:
    lines = [e if isinstance(e, bytes) else json.dumps(e).encode() for e in small_events()]
    with LocalKafka() as kafka:
        produce_lines(lines, kafka.bootstrap_servers)
        proc = WorkerProcess(kafka.bootstrap_servers, tmp_path, AS_OF)
        try:
            yield proc
        finally:
            proc.stop()


def _firing(prometheus: Prometheus) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for alert in prometheus.firing():
        labels = alert["labels"]
        names.setdefault(labels["alertname"], set()).add(labels.get("contract_id", ""))
    return names


def test_prometheus_scrapes_the_worker_and_fires_the_breach_alerts(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    binary = need_tool("prometheus")
    work = tmp_path / "prometheus"
    work.mkdir()
    target = f"127.0.0.1:{worker.port}"
    with run_prometheus(binary, PROMETHEUS_DIR / "rules.yml", target, work) as prometheus:
        prometheus.wait_for(
            "the worker's target to be up",
            lambda: any(r["value"][1] == "1" for r in prometheus.query('up{job="availability"}')),
            timeout=120,
        )
        # PO-1 is one counted minute over its 44-minute budget (10 % tier);
        # PO-2 has 25 counted minutes of 44, so under half its budget is left.
        prometheus.wait_for(
            "the worker's statements to fire the tier and budget alerts",
            lambda: (
                {
                    "AvailabilityCreditTierReached",
                    "AvailabilityErrorBudgetBelowHalf",
                }
                <= set(_firing(prometheus))
            ),
            timeout=240,
        )
        firing = _firing(prometheus)
        assert firing["AvailabilityCreditTierReached"] == {"PO-1"}
        assert firing["AvailabilityErrorBudgetBelowHalf"] == {"PO-2"}
        assert "AvailabilityWorkerDown" not in firing
        remaining = prometheus.query(
            'availability_contract_error_budget_remaining_minutes{contract_id="PO-2"}'
        )
        assert [r["value"][1] for r in remaining] == ["19"]
        # the pipeline counters come from the worker itself, not from a replay
        dead = prometheus.query('availability_dead_letters_total{reason="invalid_json"}')
        assert [r["value"][1] for r in dead] == ["1"]
