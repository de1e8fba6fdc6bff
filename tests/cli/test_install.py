"""A plain (non-editable) install works: the wheel carries the migrations and every data file.

The wheel is built from a copy of the sources without a build backend
download (``--no-build-isolation``, the development environment's
setuptools) and installed with ``--no-deps --no-index`` into a fresh
virtualenv that reaches the already-installed dependencies through a
``.pth`` file: offline, and nothing of the source tree on its path. The
development kit (``devkit``) is in the copied sources but not in the wheel,
and the installed tool has no development commands.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT

SOURCES = (
    "pyproject.toml",
    "README.md",
    "sla",
    "schemas",
    "fold",
    "streams",
    "sinks",
    "cli",
    "reports",
    "tools",
    "devkit",
    "deploy/clickhouse",
)


def _run(
    args: list[str], cwd: Path, timeout: float = 120, status: int = 0
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "AVAILABILITY_DATA": str(cwd / "data")}
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == status, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def _built_wheel(tmp_path: Path, pip: list[str]) -> Path:
    """The wheel of a copy of ``SOURCES``, checked to carry the packages and not the devkit."""
    src = tmp_path / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    _run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)], src)
    (wheel,) = dist.glob("availability_pipeline-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        packages = {name.split("/")[0] for name in zf.namelist()}
    assert "devkit" not in packages, sorted(packages)
    assert {"cli", "fold", "streams", "sla", "sinks"} <= packages
    return wheel


def _installed(tmp_path: Path, pip: list[str], wheel: Path) -> tuple[Path, Path]:
    """(virtualenv, its site-packages) with ``wheel`` installed and the dependencies reachable."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
        ).stdout.strip()
    )
    # the dependencies, already installed for development, without the project itself
    (site / "_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        tmp_path,
    )
    return env_dir, site


@pytest.mark.slow
def test_wheel_install_migrates_and_replays(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    env_dir, site = _installed(tmp_path, pip, _built_wheel(tmp_path, pip))
    python = env_dir / "bin" / "python"
    work = tmp_path / "work"
    work.mkdir()
    where = _run(
        [str(python), "-c", "import sinks.dsn as c, streams; print(streams.__file__); "
         "print(c.DEFAULT_MIGRATIONS_DIR)"],
        work,
    ).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(site) for p in where), where

    tool = str(env_dir / "bin" / "availability")
    assert _run([tool, "--version"], work).stdout.strip() == "availability 0.1.0"
    migrated = _run([tool, "migrate"], work)
    shipped = len(list((ROOT / "deploy" / "clickhouse").glob("*.sql")))
    assert f"applied {shipped} migrations" in migrated.stderr
    events = site / "schemas" / "examples" / "events.jsonl"
    replayed = _run(
        [tool, "replay", str(events), "--as-of", "2026-09-30T00:00:00Z", "--format", "table"],
        work,
        timeout=300,
    )
    assert "Contract-month statements" in replayed.stdout
    report = _run([tool, "report", "--contract", "PO-1001", "--month", "2026-03"], work)
    assert "SLA statement PO-1001" in report.stdout

    # the development kit stayed in the source tree: no devkit, no demo, no generate
    no_kit = _run([str(python), "-c", "import devkit"], work, status=1)
    assert "No module named 'devkit'" in no_kit.stderr
    for dev_command in ("demo", "generate"):
        refused = _run([tool, dev_command], work, status=2)
        assert f"run ./dev {dev_command} from a source checkout" in refused.stderr
        assert "Traceback" not in refused.stderr
    listed = [
        ln.split()[0] for ln in _run([tool], work).stdout.splitlines() if ln.startswith("    ")
    ]
    assert "replay" in listed
    assert not {"demo", "generate"} & set(listed)

    # an installation that lost its migrations says so instead of "applied 0"
    shutil.rmtree(site / "sinks" / "migrations")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    broken = subprocess.run(
        [tool, "migrate"],
        cwd=fresh,
        env={"PATH": "/usr/bin:/bin", "HOME": str(fresh), "AVAILABILITY_DATA": str(fresh)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert broken.returncode == 1, broken.stderr
    assert "availability migrate: no migrations found in" in broken.stderr
    assert "reinstall availability-pipeline" in broken.stderr
    assert "Traceback" not in broken.stderr
