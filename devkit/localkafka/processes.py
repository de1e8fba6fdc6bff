"""Signals to a broker's process group, and stopping a detached broker by its pid."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

from devkit.localkafka.base import (
    _BROKER_MAIN_CLASS,
    _OWNED_MARKER,
    LocalKafkaError,
)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def stop_pid(pid: int, timeout: float = 30.0) -> bool:
    """Stop a broker started by ``start`` (detached); return False if it was not running.

    Refuses (LocalKafkaError) to signal a live process whose command line is
    not a Kafka broker, so a stale pid file cannot hit an unrelated process.
    Deletes the broker's data directory if ``start`` created it.
    """
    if not _alive(pid):
        return False
    cmdline = _cmdline(pid)
    if cmdline is not None and _BROKER_MAIN_CLASS not in cmdline:
        raise LocalKafkaError(f"pid {pid} is not a Kafka broker: {' '.join(cmdline)[:200]}")
    data_dir = Path(cmdline[-1]).parent if cmdline else None
    _kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        _kill_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    if data_dir is not None and (data_dir / _OWNED_MARKER).is_file():
        shutil.rmtree(data_dir, ignore_errors=True)
    return True
