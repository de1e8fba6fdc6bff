"""The worker's log as an operator reads it in a file: its first line says where the API
listens, which Kafka it uses and its consumer groups; no terminal escapes; and a fresh
cluster that has no offsets topic yet does not make a healthy start open with an ERROR."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.localkafka import LocalKafka, free_port
from tests.integration.conftest import local_kafka_tools

__all__ = ["local_kafka_tools"]

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("local_kafka_tools")]


@pytest.fixture
def fresh_broker() -> Iterator[str]:
    """A new broker: no consumer group has ever asked it for a coordinator."""
    with LocalKafka() as running:
        yield running.bootstrap_servers


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:  # a 503 while degraded is an answer too
        return True
    except OSError:
        return False


def test_worker_log_on_a_fresh_cluster(fresh_broker: str, tmp_path: Path) -> None:
    port = free_port()
    app_id = f"banner-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVAILABILITY_")}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "availability"),
            "worker",
            "--bootstrap",
            fresh_broker,
            "--app-id",
            app_id,
            "--web-port",
            str(port),
            "--as-of",
            "2026-04-11T00:00:00Z",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = b""
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        answered_at: float | None = None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
            if answered_at is None and _answers(f"http://127.0.0.1:{port}/health"):
                answered_at = time.monotonic()
            # a few seconds past the first answer: the groups have joined by then
            if answered_at is not None and time.monotonic() - answered_at > 5:
                break
        assert answered_at is not None, out.decode(errors="replace")[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    text = out.decode()
    first = text.splitlines()[0]
    assert first.startswith("availability worker "), first
    assert f"HTTP API on http://127.0.0.1:{port} (/health, /metrics)" in first
    assert f"Kafka {fresh_broker} over PLAINTEXT" in first
    assert f"consumer groups {app_id} (statements, claims, tickets) and {app_id}-probes" in first
    assert first.rstrip().endswith("store none")
    assert "\x1b" not in text
    assert "\b" not in text
    assert "[ERROR]" not in text, text
