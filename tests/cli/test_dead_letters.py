"""``replay``'s dead letters: a summary by reason, ``--quiet``, ``--max-dead-letters``,
a failing exit when nothing valid was read, and a file that is appended, never overwritten."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import ROOT, Run

EXAMPLE = ROOT / "schemas" / "examples" / "events.jsonl"
AS_OF = "2026-09-30T00:00:00Z"
BAD = [
    b"{not json",
    b'{"type": "probe"}',
    b'{"type": "probe", "event_id": "p-x", "service": "api", "region": "r1", '
    b'"observed_at": "2026-03-01T10:00:00", "ok": true}',
    b"[1, 2",
]


def _events(tmp_path: Path, *, valid: bool = True) -> Path:
    path = tmp_path / "events.jsonl"
    good = EXAMPLE.read_bytes().rstrip(b"\n").split(b"\n") if valid else []
    path.write_bytes(b"\n".join([*good, *BAD]) + b"\n")
    return path


def test_summary_by_reason_and_quiet(cli: Run, tmp_path: Path) -> None:
    events = _events(tmp_path)
    loud = cli("replay", str(events), "--as-of", AS_OF, "--store", "none")
    assert loud.returncode == 0, loud.stderr
    per_line = [ln for ln in loud.stderr.splitlines() if ln.startswith("line ")]
    assert len(per_line) == len(BAD)
    summary = [ln for ln in loud.stderr.splitlines() if ln.startswith("dead letters by reason: ")]
    assert len(summary) == 1
    counts = {
        reason: int(n)
        for reason, n in (part.rsplit(" ", 1) for part in summary[0].split(": ", 1)[1].split(", "))
    }
    assert sum(counts.values()) == len(BAD)
    assert counts["invalid_json"] == 2

    quiet = cli("replay", str(events), "--as-of", AS_OF, "--store", "none", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert not [ln for ln in quiet.stderr.splitlines() if ln.startswith("line ")]
    assert summary[0] in quiet.stderr.splitlines()
    assert quiet.stdout == loud.stdout


def test_nothing_valid_read_is_a_failure(cli: Run, tmp_path: Path) -> None:
    proc = cli("replay", str(_events(tmp_path, valid=False)), "--as-of", AS_OF, "--store", "none")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"availability replay: no valid event in {tmp_path / 'events.jsonl'}" in proc.stderr
    assert proc.stdout == ""


def test_max_dead_letters_fails_fast(cli: Run, tmp_path: Path) -> None:
    events = _events(tmp_path)
    args = ("replay", str(events), "--as-of", AS_OF, "--store", "none", "--quiet")
    within = cli(*args, "--max-dead-letters", str(len(BAD)))
    assert within.returncode == 0, within.stderr
    over = cli(*args, "--max-dead-letters", "1")
    assert over.returncode == 1
    assert "availability replay: more than 1 dead letters" in over.stderr
    assert over.stdout == ""
    assert "Traceback" not in over.stderr


def test_store_none_writes_no_file_unless_asked_and_files_are_appended(
    cli: Run, tmp_path: Path
) -> None:
    events = _events(tmp_path)
    proc = cli("replay", str(events), "--as-of", AS_OF, "--store", "none", "-q")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "data").exists()

    named = tmp_path / "rejected.jsonl"
    for run in (1, 2):
        proc = cli(
            "replay", str(events), "--as-of", AS_OF, "--store", "none", "-q",
            "--dead-letters", str(named),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        records = [json.loads(ln) for ln in named.read_text(encoding="utf-8").splitlines()]
        assert len(records) == run * len(BAD)
        assert {r["kind"] for r in records} == {"dead_letter"}
