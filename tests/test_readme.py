"""Every command the README shows is run here (``./dev test`` is CI's own command)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers import readme_env, run_readme_line

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks() -> list[list[str]]:
    return [
        [ln for ln in block.splitlines() if ln.strip()]
        for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    ]


def _examples() -> list[str]:
    section = README.split("## Examples", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block is not None
    return [ln for ln in block.group(1).splitlines() if ln.startswith(("availability ", "./dev "))]


def test_readme_opens_with_the_two_set_up_commands() -> None:
    first = [ln.split("#")[0].strip() for ln in _blocks()[0]]
    assert first == ["./dev demo", "./dev test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in ci


@pytest.mark.slow
def test_readme_examples_run_in_order(tmp_path: Path) -> None:
    (tmp_path / "schemas").symlink_to(ROOT / "schemas")
    env = readme_env(tmp_path)
    examples = _examples()
    assert len(examples) >= 5
    assert examples[0].startswith("./dev generate ")
    for line in examples:
        # ./dev runs a development command in the caller's folder, set up already
        if line.startswith("./dev "):
            line = shlex.quote(str(ROOT / "dev")) + line.removeprefix("./dev")
        proc = run_readme_line(line, tmp_path, {**env, "DEV_SKIP_SETUP": "1"}, timeout=600)
        if "--format table" in line and line.startswith("availability replay"):
            assert "Contract-month statements" in proc.stdout
        if "--format jsonl" in line:
            kinds = {ln.split('"kind":"')[1].split('"')[0] for ln in proc.stdout.splitlines()}
            assert {"contract_month", "service_month", "claim_decision"} <= kinds
        if line.startswith("availability report") and "--format table" in line:
            assert "SLA statement PO-1001" in proc.stdout
    html = (tmp_path / "data" / "PO-1001-2026-03.html").read_text()
    assert "<svg" in html
    dead = (tmp_path / "data" / "dead-letters.jsonl").read_text().splitlines()
    assert dead, "the simulated month carries malformed lines"


@pytest.mark.slow
def test_dev_demo_runs_the_main_job(tmp_path: Path) -> None:
    # as on a fresh machine: no broker configured, so the demo starts its own (on a
    # shared broker its worker would fold every contract other tests put there)
    env = readme_env(tmp_path, drop_prefix="KAFKA_")
    env["DEV_SKIP_SETUP"] = "1"
    proc = subprocess.run(
        [str(ROOT / "dev"), "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PO-1001   2026-03  Europe/London  44580" in proc.stdout
    assert "CLM-1" in proc.stdout
    assert (tmp_path / "data" / "demo" / "clickhouse").exists()
    assert not (tmp_path / "data" / "clickhouse").exists(), "the demo keeps to data/demo"
