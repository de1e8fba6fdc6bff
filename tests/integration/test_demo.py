"""The README's main job, live: ``availability demo`` through Kafka and a worker.

The same simulated month through ``availability demo --offline`` (replay in
process) must print the same tables; the live run also leaves the statements
in the embedded ClickHouse store for ``availability report``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.localkafka import LocalKafka

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

BIN = Path(sys.executable).parent


def _run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "availability"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_live_demo_prints_what_replay_prints_and_stores_it(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    with LocalKafka() as kafka:
        env = {
            **base,
            "AVAILABILITY_DATA": str(tmp_path / "live"),
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        }
        (tmp_path / "cwd").mkdir()
        live = _run(["demo", "--days", "2"], env, cwd=tmp_path / "cwd")
    assert live.returncode == 0, live.stderr[-3000:]
    # the worker's table state went with its one-off consumer group
    assert list((tmp_path / "cwd").iterdir()) == []
    offline = _run(
        ["demo", "--days", "2", "--offline", "--store", "none"],
        {**base, "AVAILABILITY_DATA": str(tmp_path / "offline")},
    )
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert "Contract-month statements" in live.stdout
    assert live.stdout == offline.stdout
    report = _run(
        ["report", "--contract", "PO-1001", "--month", "2026-03", "--format", "json"],
        {**base, "AVAILABILITY_DATA": str(tmp_path / "live")},
    )
    assert report.returncode == 0, report.stderr[-3000:]
    statement = json.loads(report.stdout)["statement"]
    assert statement["contract_id"] == "PO-1001"
    assert statement["status"] in ("final", "revised")
