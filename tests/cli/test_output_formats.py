"""``-o/--output-format``: one record set, printed as a table, one JSON array or JSON Lines;
replay prints a table on a terminal and JSON Lines into a pipe."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from devkit.simulate import Scenario, write_jsonl
from sla.months import Month
from tests.cli.conftest import ROOT, Run

EXAMPLE = str(ROOT / "schemas" / "examples" / "events.jsonl")
REPLAY = ("replay", EXAMPLE, "--as-of", "2026-09-30T00:00:00Z", "--store", "none", "-q")


def test_json_and_jsonl_hold_the_same_records(cli: Run) -> None:
    jsonl = cli(*REPLAY, "-o", "jsonl")
    array = cli(*REPLAY, "--output-format", "json")
    legacy = cli(*REPLAY, "--format", "jsonl")
    assert jsonl.returncode == array.returncode == legacy.returncode == 0, jsonl.stderr
    records = [json.loads(ln) for ln in jsonl.stdout.splitlines()]
    assert records
    assert json.loads(array.stdout) == records
    assert legacy.stdout == jsonl.stdout


def test_replay_prints_json_lines_into_a_pipe(cli: Run) -> None:
    piped = cli(*REPLAY)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == cli(*REPLAY, "-o", "jsonl").stdout


def test_replay_prints_a_table_on_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "AVAILABILITY_"))}
    env["AVAILABILITY_DATA"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(ROOT)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", *REPLAY],
        cwd=tmp_path,
        env=env,
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    shown = b"".join(chunks).decode()
    assert "Contract-month statements" in shown
    assert '{"kind"' not in shown


def test_report_jsonl_is_its_json_on_one_line(cli: Run, tmp_path: Path) -> None:
    # what ./dev generate march.jsonl --month 2026-03 --services api,web writes
    write_jsonl(
        Scenario(month=Month(2026, 3), services=("api", "web")), str(tmp_path / "march.jsonl")
    )
    stored = cli("replay", "march.jsonl", "--as-of", "2026-04-11T00:00:00Z", "-q", "-o", "jsonl")
    assert stored.returncode == 0, stored.stderr
    args = ("report", "--contract", "PO-1001", "--month", "2026-03")
    one_line = cli(*args, "-o", "jsonl")
    pretty = cli(*args, "--format", "json")
    assert one_line.returncode == pretty.returncode == 0, one_line.stderr
    assert len(one_line.stdout.splitlines()) == 1
    data = json.loads(one_line.stdout)
    assert data == json.loads(pretty.stdout)
    # lists stay lists, as in the statement replay printed
    statement = next(
        r
        for r in map(json.loads, stored.stdout.splitlines())
        if r["kind"] == "contract_month" and r["contract_id"] == "PO-1001"
    )
    periods = [p for p in data["periods"] if p["treatment"] == "counted"]
    assert periods
    assert sorted(c for p in periods for c in p["causes"]) == sorted(
        c for i in statement["downtime_incidents"] for c in i["causes"]
    )


def test_as_of_a_date_is_its_first_instant_in_utc(cli: Run) -> None:
    by_date = cli(
        "replay", EXAMPLE, "--as-of", "2026-09-30", "--store", "none", "-q", "-o", "jsonl"
    )
    assert by_date.returncode == 0, by_date.stderr
    assert by_date.stdout == cli(*REPLAY, "-o", "jsonl").stdout
    assert "as of 2026-09-30T00:00:00Z" in by_date.stderr
