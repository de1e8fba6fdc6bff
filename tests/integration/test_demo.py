"""The README's main job, live: ``./dev demo`` through Kafka and a worker.

The same simulated month through ``./dev demo --offline`` (replay in
process) must print the same tables; the live run also leaves the statements
in the embedded ClickHouse store for ``availability report``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from devkit.localkafka import LocalKafka

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def _run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``availability ARGS``, or ``./dev demo ARGS`` for ``demo`` (the development kit)."""
    if args[0] == "demo":
        command = [sys.executable, "-m", "devkit", *args]
        env = {**env, "PYTHONPATH": str(ROOT)}
    else:
        command = [str(BIN / "availability"), *args]
    return subprocess.run(
        command,
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
    # the demo keeps to its own folder: the examples' store is never touched
    assert sorted(p.name for p in (tmp_path / "live").iterdir()) == ["demo"]
    store = f"chdb://{tmp_path / 'live' / 'demo' / 'clickhouse'}"
    assert f"--store {store}" in live.stderr
    report = _run(
        ["report", "--store", store, "--contract", "PO-1001", "--month", "2026-03", "-o", "json"],
        {**base, "AVAILABILITY_DATA": str(tmp_path / "live")},
    )
    assert report.returncode == 0, report.stderr[-3000:]
    statement = json.loads(report.stdout)["statement"]
    assert statement["contract_id"] == "PO-1001"
    assert statement["status"] in ("final", "revised")


def test_the_demo_month_is_a_whole_realistic_month(tmp_path: Path) -> None:
    """Its first screen: near-full coverage, a breach with a credit, an AWS exclusion that
    came from a reclassification, a claim accepted with a credit and one rejected."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env = {**base, "AVAILABILITY_DATA": str(tmp_path / "data")}
    run = _run(["demo", "--offline", "--store", "none", "-o", "json"], env)
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = json.loads(run.stdout)
    (march,) = [
        o
        for o in outputs
        if o["kind"] == "contract_month"
        and (o["contract_id"], o["month"]) == ("PO-1001", "2026-03")
    ]
    assert march["remaining_minutes"] == 0
    assert march["elapsed_minutes"] == march["minutes_in_month"] == 44580
    assert Decimal(march["coverage_percent"]) > Decimal("99.5")
    assert not march["meets_target"]
    assert Decimal(march["credit_amount"]) > 0
    assert march["excluded_minutes"]["aws"] > 0
    # the AWS minutes were first reported as internal: reclassified after finality
    assert march["status"] == "revised"
    claims = {o["claim_id"]: o for o in outputs if o["kind"] == "claim_decision"}
    assert claims["CLM-1"]["decision"] == "accepted"
    assert Decimal(claims["CLM-1"]["credit_total"]) > 0
    assert claims["CLM-2"]["reason"] == "bad_subject"
    # nothing written outside the demo's folder (no store, no dead letters with --store none)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["demo"]
