"""``--health-port``'s ``/health``: served by a process of its own, honest about a held loop."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.healthserver import HealthServer


def _get(port: int, path: str = "/health") -> tuple[float, int, Any]:
    """(seconds to answer, HTTP status, body)."""
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return time.monotonic() - t0, status, json.loads(body)


def _until(port: int, done: Callable[[int, Any], bool], timeout: float = 5.0) -> tuple[int, Any]:
    """The first answer for which ``done(status, body)`` holds (reports reach the child by pipe)."""
    deadline = time.monotonic() + timeout
    while True:
        _, status, body = _get(port)
        if done(status, body) or time.monotonic() > deadline:
            return status, body
        time.sleep(0.02)


@pytest.fixture
def server() -> Iterator[HealthServer]:
    health = HealthServer("127.0.0.1", 0, stall_after=1.0)
    health.start()
    try:
        yield health
    finally:
        health.stop()


def test_before_the_first_report_it_answers_starting(server: HealthServer) -> None:
    _, status, body = _get(server.port)
    assert (status, body["status"]) == (503, "starting")


def test_it_answers_the_last_report_with_its_status_and_age(server: HealthServer) -> None:
    server.publish(200, {"status": "ok", "lag": 3})
    status, body = _until(server.port, lambda status, body: body["status"] != "starting")
    assert status == 200
    assert body["status"] == "ok"
    assert body["lag"] == 3
    assert 0.0 <= body["report_age_seconds"] < 1.0
    server.publish(503, {"status": "degraded", "degraded": {"store_unavailable": "full"}})
    status, body = _until(server.port, lambda status, body: body["status"] == "degraded")
    assert (status, body["degraded"]) == (503, {"store_unavailable": "full"})


def test_only_health_is_served(server: HealthServer) -> None:
    server.publish(200, {"status": "ok"})
    _, status, body = _get(server.port, "/metrics")
    assert status == 404
    assert "only /health" in body["error"]


def test_a_held_loop_is_answered_at_once_as_stalled_then_ok_again(server: HealthServer) -> None:
    """The real fault: a callback holds the loop (and competes for the interpreter) for 3 s."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def report() -> None:
        while not stop.is_set():
            server.publish(200, {"status": "ok"})
            await asyncio.sleep(0.05)

    def hold() -> None:
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            sum(range(1000))

    thread = threading.Thread(target=loop.run_until_complete, args=(report(),), daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        before = _get(server.port)
        assert server.alive()
        loop.call_soon_threadsafe(hold)
        time.sleep(0.1)
        during = []
        for _ in range(12):  # about 2.4 s, inside the 3 s
            during.append(_get(server.port))
            time.sleep(0.2)
        deadline = time.monotonic() + 10.0
        while _get(server.port)[2]["status"] == "stalled" and time.monotonic() < deadline:
            time.sleep(0.1)
        after = _get(server.port)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
    assert (before[1], before[2]["status"]) == (200, "ok")
    # every answer came at once, the loop held or not
    assert max(seconds for seconds, _, _ in during) < 0.5
    statuses = [(status, body["status"]) for _, status, body in during]
    assert (503, "stalled") in statuses
    stalled = next(body for _, _, body in during if body["status"] == "stalled")
    assert stalled["report_age_seconds"] > 1.0
    assert stalled["last_report"] == {"status": "ok"}
    assert "event_loop_stalled" in stalled["degraded"]
    assert after[1] == 200
    assert after[2]["status"] == "ok"


def test_a_taken_port_is_a_clear_error(server: HealthServer) -> None:
    other = HealthServer("127.0.0.1", server.port)
    with pytest.raises(RuntimeError, match="did not start"):
        other.start()
    assert not other.alive()


def test_stop_closes_the_port() -> None:
    health = HealthServer("127.0.0.1", 0)
    health.start()
    port = health.port
    health.stop()
    assert not health.alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_the_port_closes_when_the_worker_is_killed(tmp_path: Path) -> None:
    """The real fault: the process that started the server dies by ``kill -9``."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import sys, time\n"
        "from streams.healthserver import HealthServer\n"
        "h = HealthServer('127.0.0.1', 0)\n"
        "h.start()\n"
        "h.publish(200, {'status': 'ok'})\n"
        "print(h.port, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    try:
        assert owner.stdout is not None
        port = int(owner.stdout.readline())
        status, body = _until(port, lambda status, body: body["status"] == "ok")
        assert (status, body["status"]) == (200, "ok")
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"/health still listens on {port} after its worker was killed")
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
