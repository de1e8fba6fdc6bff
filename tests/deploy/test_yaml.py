"""Every YAML file of the repository passes yamllint (configuration: .yamllint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import ROOT


def _yaml_files() -> list[str]:
    """Tracked and new (not ignored) YAML files, as git sees them."""
    proc = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.yml", "*.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return sorted({f for f in proc.stdout.splitlines() if (ROOT / f).is_file()})


def _yamllint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-f", "parsable", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_yaml_file_passes_yamllint() -> None:
    files = _yaml_files()
    assert "deploy/compose/compose.yaml" in files
    assert "deploy/k8s/worker.yaml" in files
    assert "deploy/prometheus/rules.yml" in files
    proc = _yamllint("-c", ".yamllint", ".yamllint", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yamllint_catches_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("---\nkey: 1\nkey: 2\nlist:\n- a\n  -  b\n")
    proc = _yamllint("-c", str(ROOT / ".yamllint"), str(bad), cwd=tmp_path)
    assert proc.returncode != 0
    assert "duplication of key" in proc.stdout
