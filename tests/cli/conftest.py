"""Run ``availability`` (or ``./dev demo|generate``) in a subprocess, in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

Run = Callable[..., subprocess.CompletedProcess[str]]


def _runner(module: str, tmp_path: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "AVAILABILITY_"))}
    env["AVAILABILITY_DATA"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(ROOT)

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    """``cli(*args, timeout=60)``: the command line's result, run in ``tmp_path``.

    The data directory is ``tmp_path/data`` and no Kafka is configured.
    """
    return _runner("cli", tmp_path)


@pytest.fixture
def devkit(tmp_path: Path) -> Run:
    """``devkit(*args, timeout=60)``: a development command's result (``./dev demo|generate``),
    run as :func:`cli` runs ``availability``."""
    return _runner("devkit", tmp_path)
