"""Helpers shared by the test packages.

- Builders for test events; every test goes through the real codec and fold.
- :func:`need_tool`: an external binary, skipped without it but failed under CI.
- :func:`run_prometheus`: a real Prometheus server scraping one target.
- :func:`readme_env` and :func:`run_readme_line`: run a README command line.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devkit.demo import stop_process
from devkit.localkafka import free_port
from fold.replay import ReplayResult, replay_lines
from sla.model import JSON
from sla.timeutil import format_instant, parse_instant

_ids = itertools.count()


def eid(prefix: str = "e") -> str:
    return f"{prefix}-{next(_ids)}"


def probe(service: str, region: str, at: str, ok: bool, event_id: str | None = None) -> JSON:
    return {
        "type": "probe",
        "event_id": event_id or eid("p"),
        "service": service,
        "region": region,
        "observed_at": at,
        "ok": ok,
    }


def compact_line(event: JSON) -> bytes:
    """One JSON Lines line of ``event``, without spaces."""
    return json.dumps(event, separators=(",", ":")).encode()


def probe_lines(service: str, n: int, ok: bool = True, day: int = 5) -> list[bytes]:
    """``n`` probes of ``service`` in region ``eu``, a minute apart from 10:00, March ``day``."""
    at = "2026-03-{day:02d}T10:{i:02d}:00Z"
    return [
        compact_line(probe(service, "eu", at.format(day=day, i=i), ok, f"{service}-{i}"))
        for i in range(n)
    ]


def probes_every_minute(
    service: str, start: str, minutes: int, ok: bool = True, regions: Iterable[str] = ("r1",)
) -> list[JSON]:
    """One probe per region at second 10 of each of ``minutes`` minutes from ``start``."""
    t0 = parse_instant(start)
    out: list[JSON] = []
    for i in range(minutes):
        at = format_instant(t0 + timedelta(minutes=i, seconds=10))
        out.extend(probe(service, r, at, ok) for r in regions)
    return out


def incident(
    incident_id: str,
    services: list[str],
    start: str,
    end: str | None,
    cause: str = "internal",
    impact: str = "outage",
    revision: int = 0,
    **extra: Any,
) -> JSON:
    ev: JSON = {
        "type": "incident",
        "event_id": extra.pop("event_id", eid("i")),
        "incident_id": incident_id,
        "revision": revision,
        "services": services,
        "started_at": start,
        "ended_at": end,
        "cause": cause,
        "impact": impact,
    }
    ev.update(extra)
    return ev


def contract(
    contract_id: str = "PO-1",
    services: dict[str, str] | None = None,
    currency: str = "GBP",
    **extra: Any,
) -> JSON:
    ev: JSON = {
        "type": "contract",
        "event_id": extra.pop("event_id", f"contract-{contract_id}-{extra.get('revision', 0)}"),
        "contract_id": contract_id,
        "client_id": extra.pop("client_id", "client-1"),
        "revision": extra.pop("revision", 0),
        "services": [
            {"service": s, "monthly_charge": c} for s, c in (services or {"api": "1000.00"}).items()
        ],
        "currency": currency,
    }
    ev.update(extra)
    return ev


def claim(
    claim_id: str,
    contract_id: str,
    submitted_at: str,
    intervals: list[tuple[str, str]],
    subject: str = "SLA Credit Request",
) -> JSON:
    return {
        "type": "claim",
        "event_id": eid("c"),
        "claim_id": claim_id,
        "contract_id": contract_id,
        "submitted_at": submitted_at,
        "subject": subject,
        "incidents": [{"start": a, "end": b} for a, b in intervals],
    }


def lines(events: Iterable[JSON | bytes]) -> list[tuple[int, bytes]]:
    return [
        (i, e if isinstance(e, bytes) else json.dumps(e).encode())
        for i, e in enumerate(events, start=1)
    ]


def run(events: Iterable[JSON | bytes], as_of: str) -> ReplayResult:
    """Replay ``events`` (dicts or raw bytes) as of ``as_of``."""
    return replay_lines(lines(events), parse_instant(as_of))


def outputs(events: Iterable[JSON | bytes], as_of: str, kind: str) -> list[JSON]:
    return [o for o in run(events, as_of).outputs if o["kind"] == kind]


def one(events: Iterable[JSON | bytes], as_of: str, kind: str, **match: Any) -> JSON:
    """The single output of ``kind`` whose fields equal ``match``."""
    found = [
        o for o in outputs(events, as_of, kind) if all(o.get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, f"expected one {kind} matching {match}, got {len(found)}"
    return found[0]


# -- external tools ------------------------------------------------------------

#: The Debian package of each tool a test may need (a tool not named is its own package).
_PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
}


def need_tool(name: str) -> str:
    """The path of ``name``; skip without it, but fail under CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {_PACKAGES.get(name, name)})"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set: it must run here")
        pytest.skip(message)
    return path


# -- a live Prometheus ---------------------------------------------------------


@dataclass
class Prometheus:
    """A running Prometheus server and helpers for its HTTP API."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[JSON]:
        data = self.api("/api/v1/query", query=expr)
        result: list[JSON] = data["result"]
        return result

    def firing(self) -> list[JSON]:
        alerts: list[JSON] = self.api("/api/v1/alerts")["alerts"]
        return [a for a in alerts if a["state"] == "firing"]

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll ``check`` every 0.25 s until it holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                if check():
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.25)
        pytest.fail(f"timed out waiting for {what}; log tail: {self.log.read_text()[-2000:]}")


@contextmanager
def run_prometheus(binary: str, rules: Path, target: str, work: Path) -> Iterator[Prometheus]:
    """A Prometheus server scraping ``target`` (``host:port``) every second with ``rules`` loaded.

    Its config, data and log live in the existing folder ``work``. It is
    started, not waited for: ``wait_for`` what the caller needs. Stopped on exit.
    """
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "availability", "static_configs": [{"targets": [target]}]}],
    }
    # JSON is YAML: no YAML library needed to write the config.
    (work / "prometheus.yml").write_text(json.dumps(config))
    port = free_port()
    log = work / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Prometheus(f"http://127.0.0.1:{port}", process, log)
    finally:
        stop_process(process, timeout=10, kill_timeout=10)


# -- README command lines --------------------------------------------------------

#: The virtualenv's bin folder, where the ``availability`` command is installed.
BIN = Path(sys.executable).parent


def readme_env(tmp: Path, drop_prefix: str | None = None, **extra: str) -> dict[str, str]:
    """The environment a README line runs in: this venv's bin first on PATH, data in ``tmp``.

    Variables starting with ``drop_prefix`` are left out; ``extra`` are set on top.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "AVAILABILITY_DATA" and not (drop_prefix and k.startswith(drop_prefix))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["AVAILABILITY_DATA"] = str(tmp / "data")
    env.update(extra)
    return env


def run_readme_line(
    line: str, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run one README command line in ``cwd``; it must exit 0 (stderr's tail says why not)."""
    proc = subprocess.run(
        shlex.split(line),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
    return proc
