"""``--min-coverage``: replay and report fail (exit 1) for month-end checks in scripts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Run
from tests.sinks.test_report_explained import month_events


def test_min_coverage_fails_replay_and_report_naming_the_months(cli: Run, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in month_events()), encoding="utf-8")
    base = ("replay", str(events), "--as-of", "2026-05-10T00:00:00Z", "-q", "-o", "jsonl")
    ok = cli(*base, "--store", "none", "--min-coverage", "1")
    assert ok.returncode == 0, ok.stderr
    low = cli(*base, "--min-coverage", "95")
    assert low.returncode == 1
    assert low.stdout.strip(), "the outputs are printed before the check"
    last = low.stderr.strip().splitlines()[-1]
    assert last.startswith("availability replay: monitoring coverage below 95 %")
    assert "PO-1 2026-03 (1.3440 %)" in last
    report = cli("report", "--contract", "PO-1", "--month", "2026-03", "--min-coverage", "2")
    assert report.returncode == 1
    assert "Coverage 1.3440 %" in report.stdout
    assert report.stderr.strip().endswith("PO-1 2026-03 (1.3440 %)")
    bad = cli("report", "--contract", "PO-1", "--month", "2026-03", "--min-coverage", "101")
    assert bad.returncode == 2
