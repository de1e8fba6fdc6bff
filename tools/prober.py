"""A real HTTP prober: checks every target URL each interval and publishes probe events.

The targets file is UTF-8 JSON: either one JSON list of objects or JSON
Lines (one object per line; blank lines and lines starting with ``#`` are
skipped). Each object has

- ``service`` (required): the service the URL stands for (an id, SPEC section 2);
- ``url`` (required): an ``http://`` or ``https://`` URL, fetched with ``GET``
  (redirects are followed);
- ``expect_status`` (optional): the status code, or list of codes, that
  counts as up; default any ``2xx``.

Several targets may name the same service (several endpoints of one
service). A check fails when the response status is not expected, the
connection fails, or no full response head arrives within the timeout; its
probe event then has ``ok: false`` and an ``error``. Every event goes through
the wire model before it is published (SPEC section 2, ``probe``).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from schemas.events import Ident
from sla.model import JSON
from sla.timeutil import format_instant, require_aware
from tools.produce import encode_event

Clock = Callable[[], datetime]

#: How much of an error message a probe event carries.
MAX_ERROR_CHARS = 500


def system_clock() -> datetime:
    return datetime.now(UTC)


class _TargetWire(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    service: Ident
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]
    expect_status: int | list[int] | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One URL to check for one service."""

    service: str
    url: str
    expect_status: frozenset[int] = frozenset()

    def expects(self, status: int) -> bool:
        if self.expect_status:
            return status in self.expect_status
        return 200 <= status <= 299


class TargetsError(ValueError):
    """The targets file cannot be used; the message says where and why."""


def parse_targets(text: str, source: str = "targets") -> list[Target]:
    """Targets from the text of a targets file (a JSON list or JSON Lines)."""
    items: list[tuple[str, Any]] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise TargetsError(f"{source}: not valid JSON: {exc}") from exc
        items = [(f"{source}: item {i}", obj) for i, obj in enumerate(data, start=1)]
    else:
        for no, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                items.append((f"{source}:{no}", json.loads(line)))
            except (ValueError, RecursionError) as exc:
                raise TargetsError(f"{source}:{no}: not valid JSON: {exc}") from exc
    targets: list[Target] = []
    for where, obj in items:
        try:
            wire = _TargetWire.model_validate(obj)
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise TargetsError(f"{where}: {loc + ': ' if loc else ''}{err['msg']}") from exc
        codes = wire.expect_status
        expect = frozenset([codes] if isinstance(codes, int) else codes or [])
        if any(not 100 <= c <= 599 for c in expect):
            raise TargetsError(f"{where}: expect_status must be HTTP status codes (100-599)")
        targets.append(Target(wire.service, wire.url, expect))
    if not targets:
        raise TargetsError(f"{source}: no targets")
    return targets


def load_targets(path: str | Path) -> list[Target]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetsError(f"cannot read {path}: {exc}") from exc
    return parse_targets(text, str(path))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one check saw."""

    ok: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | socket.timeout):
        return True
    if isinstance(exc, urllib.error.URLError):
        return isinstance(exc.reason, TimeoutError | socket.timeout)
    return False


def check(target: Target, timeout: float) -> Outcome:
    """``GET`` the target once; a failure is an outcome, never an exception."""
    req = urllib.request.Request(
        target.url, method="GET", headers={"User-Agent": "availability-probe/1"}
    )
    t0 = time.monotonic()
    status: int | None = None
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
        exc.close()
    except Exception as exc:
        elapsed = round((time.monotonic() - t0) * 1000, 3)
        if _is_timeout(exc):
            return Outcome(False, elapsed, None, f"timeout after {timeout:g}s")
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        text = f"connection error: {reason}"
        return Outcome(False, elapsed, None, text[:MAX_ERROR_CHARS])
    latency = round((time.monotonic() - t0) * 1000, 3)
    if latency > timeout * 1000:
        return Outcome(False, latency, status, f"timeout after {timeout:g}s")
    if not target.expects(status):
        return Outcome(False, latency, status, f"unexpected status {status}")
    return Outcome(True, latency, status, None)


def probe_event(
    target: Target, region: str, observed_at: datetime, outcome: Outcome, event_id: str
) -> JSON:
    """The wire form of one probe result (SPEC section 2); validated by the caller."""
    ev: JSON = {
        "type": "probe",
        "event_id": event_id,
        "service": target.service,
        "region": region,
        "observed_at": format_instant(require_aware(observed_at)),
        "ok": outcome.ok,
    }
    if outcome.latency_ms is not None:
        ev["latency_ms"] = outcome.latency_ms
    if outcome.status_code is not None:
        ev["status_code"] = outcome.status_code
    if outcome.error is not None:
        ev["error"] = outcome.error
    return ev


def new_event_id(region: str, service: str) -> str:
    """A unique event id that still says where the probe ran (at most 128 chars)."""
    return f"probe/{region}/{service}"[:90] + f"/{uuid.uuid4().hex}"


class Prober:
    """Checks every target concurrently and turns the outcomes into probe events."""

    def __init__(
        self,
        targets: Sequence[Target],
        region: str,
        timeout: float = 5.0,
        clock: Clock = system_clock,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.targets = list(targets)
        self.region = region
        self.timeout = timeout
        self.clock = clock

    def _one(self, target: Target) -> JSON:
        observed_at = self.clock()
        outcome = check(target, self.timeout)
        ev = probe_event(
            target, self.region, observed_at, outcome, new_event_id(self.region, target.service)
        )
        encode_event(ev)  # the canonical wire model must accept it
        return ev

    def round(self) -> list[JSON]:
        """One probe event per target, in the targets' order."""
        with ThreadPoolExecutor(
            max_workers=min(32, len(self.targets)), thread_name_prefix="probe"
        ) as pool:
            futures = [pool.submit(self._one, t) for t in self.targets]
            wait(futures, return_when=FIRST_EXCEPTION)
            return [f.result() for f in futures]


def run(
    prober: Prober,
    publish: Callable[[list[JSON]], None],
    interval: float,
    once: bool = False,
    stop: threading.Event | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Probe every ``interval`` seconds until ``stop`` is set (or once); return the rounds run.

    Rounds start on a fixed cadence; a round that overruns the interval
    makes the next one start at once, never a burst of catch-up rounds.
    """
    stop = stop or threading.Event()
    rounds = 0
    next_at = monotonic()
    while not stop.is_set():
        publish(prober.round())
        rounds += 1
        if once:
            break
        next_at = max(next_at + interval, monotonic())
        stop.wait(max(0.0, next_at - monotonic()))
    return rounds


__all__ = [
    "Outcome",
    "Prober",
    "Target",
    "TargetsError",
    "check",
    "load_targets",
    "parse_targets",
    "probe_event",
    "run",
]
