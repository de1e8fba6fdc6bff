"""A worker process on a real broker, and what replay says it must publish.

Shared by the integration and fault tests that run ``availability worker``
as a subprocess: :class:`WorkerProcess` starts, kills and stops it;
:func:`replay_outputs` is what replay gives for the same lines, and
:func:`wait_for_outputs` reads the output topics the way billing does
(latest revision per key) until they equal it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from devkit.localkafka import free_port
from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas.codec import dumps
from sla.timeutil import parse_instant
from streams import topics
from tools.produce import consume_outputs, latest_outputs

BIN = Path(sys.executable).parent
OUTPUT_TOPICS = [
    topics.STATEMENTS.name,
    topics.SERVICE_MONTHS.name,
    topics.CLAIM_DECISIONS.name,
    topics.SUPPORT.name,
]


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


def replay_outputs(lines: list[bytes], as_of: str) -> list[str]:
    res = replay_lines(list(enumerate(lines, start=1)), parse_instant(as_of))
    return sorted(dumps(o) for o in res.outputs)


def wait_for_outputs(bootstrap: str, expected: list[str], timeout: float = 240.0) -> list[str]:
    """The outputs as billing would keep them, once they equal ``expected`` (or at timeout)."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while time.monotonic() < deadline:
        latest = latest_outputs(consume_outputs(bootstrap, OUTPUT_TOPICS, timeout_ms=1500))
        got = sorted(dumps(o) for o in latest.values())
        if got == expected:
            return got
        time.sleep(2)
    explain_difference(got, expected)
    return got


def explain_difference(got: list[str], expected: list[str]) -> None:
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


def scenario_lines(tmp: Path) -> tuple[list[bytes], str]:
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
