"""The worker's first line says where its API listens, which Kafka it uses and its groups."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from streams.localkafka import free_port
from tests.integration.conftest import kafka_bootstrap

__all__ = ["kafka_bootstrap"]

pytestmark = [pytest.mark.kafka]


def test_first_line_names_address_broker_and_groups(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    app_id = f"banner-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVAILABILITY_")}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "availability"),
            "worker",
            "--bootstrap",
            kafka_bootstrap,
            "--app-id",
            app_id,
            "--web-port",
            str(port),
            "--as-of",
            "2026-04-11T00:00:00Z",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        first = ""
        while not first and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1.0)
            if ready:
                first = proc.stderr.readline()
            assert proc.poll() is None or first, "the worker exited before saying anything"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert first.startswith("availability worker "), first
    assert f"HTTP API on http://127.0.0.1:{port} (/health, /metrics)" in first
    assert f"Kafka {kafka_bootstrap} over PLAINTEXT" in first
    assert f"consumer groups {app_id} (statements, claims, tickets) and {app_id}-probes" in first
    assert first.rstrip().endswith("store none")
