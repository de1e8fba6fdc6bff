"""Two deployments on one Kafka cluster, told apart by their topic prefix.

Without a prefix of its own a second deployment read the first one's minute
states and both published statements into the same topic. With
``AVAILABILITY_TOPIC_PREFIX`` set for every process of a deployment, each
worker sees only its own events and publishes only its own outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.localkafka import LocalKafka
from schemas.codec import dumps
from streams import topics
from tests.helpers import contract, probes_every_minute
from tests.integration.worker_process import BIN, OUTPUT_TOPICS, WorkerProcess, replay_outputs
from tools.produce import consume_outputs, latest_outputs, produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

AS_OF = "2026-04-10T00:00:00Z"
PREFIX_B = "tenant-b."


@pytest.fixture
def broker() -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


def _outputs(broker: str, prefix: str) -> list[str]:
    names = [prefix + t for t in OUTPUT_TOPICS] if prefix else OUTPUT_TOPICS
    latest = latest_outputs(consume_outputs(broker, names, timeout_ms=1500))
    return sorted(dumps(o) for o in latest.values())


def _health(worker: WorkerProcess) -> object:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/health", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
    except OSError as exc:
        return str(exc)


def test_two_prefixed_deployments_on_one_cluster_never_mix(broker: str, tmp_path: Path) -> None:
    assert topics.PREFIX == ""  # the test process is deployment A
    a = [
        json.dumps(e).encode()
        for e in (
            contract("PO-A", services={"api": "1000.00"}),
            *probes_every_minute("api", "2026-03-10T00:00:00Z", 30, ok=False),
        )
    ]
    b = [
        json.dumps(e).encode()
        for e in (
            contract("PO-B", services={"api": "500.00"}, client_id="other"),
            *probes_every_minute("api", "2026-03-12T00:00:00Z", 90, ok=True),
        )
    ]
    produce_lines(a, broker)
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"\n".join(b) + b"\n")
    env_b = {"AVAILABILITY_TOPIC_PREFIX": PREFIX_B}
    subprocess.run(
        [str(BIN / "availability"), "produce", str(path), "--bootstrap", broker],
        check=True,
        env={**os.environ, **env_b},
        capture_output=True,
    )
    want_a, want_b = replay_outputs(a, AS_OF), replay_outputs(b, AS_OF)
    assert want_a != want_b
    worker_a = WorkerProcess(broker, tmp_path, AS_OF, app_id="tenant-a")
    worker_b = WorkerProcess(broker, tmp_path, AS_OF, app_id="tenant-b", env=env_b)
    try:
        deadline = time.monotonic() + 240
        got_a: list[str] = []
        got_b: list[str] = []
        while time.monotonic() < deadline:
            got_a, got_b = _outputs(broker, ""), _outputs(broker, PREFIX_B)
            if got_a == want_a and got_b == want_b:
                break
            time.sleep(2)
        health = {w.log_path.name: _health(w) for w in (worker_a, worker_b)}
    finally:
        worker_a.stop()
        worker_b.stop()
    assert got_a == want_a, health
    assert got_b == want_b, health
