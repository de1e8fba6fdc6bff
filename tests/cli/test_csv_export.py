"""``replay --format csv`` and ``--claims-csv``: flat rows finance can use, named as in the JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from reports.finance_csv import CLAIM_COLUMNS, CONTRACT_MONTH_COLUMNS
from tests.cli.conftest import Run
from tests.sinks.test_report_explained import month_events


def test_one_row_per_contract_month_and_per_claim_with_the_json_values(
    cli: Run, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in month_events()), encoding="utf-8")
    base = ("replay", str(events), "--as-of", "2026-05-10T00:00:00Z", "--store", "none", "-q")
    claims_csv = tmp_path / "out" / "claims.csv"
    flat = cli(*base, "--format", "csv", "--claims-csv", str(claims_csv))
    records = cli(*base, "--format", "jsonl")
    assert flat.returncode == records.returncode == 0, flat.stderr
    outputs = [json.loads(ln) for ln in records.stdout.splitlines()]
    (st,) = [o for o in outputs if o["kind"] == "contract_month"]
    rows = list(csv.DictReader(io.StringIO(flat.stdout)))
    assert list(rows[0]) == list(CONTRACT_MONTH_COLUMNS)
    (row,) = rows
    for name in ("contract_id", "month", "status", "coverage_percent", "uptime_percent"):
        assert row[name] == str(st[name])
    assert row["credit_amount"] == st["credit_amount"] == "125.00"
    assert row["revision"] == str(st["revision"])
    assert row["excluded_minutes.aws"] == "30"
    assert row["meets_target"] == "false"
    assert row["affected_services"] == "api"
    claims = list(csv.DictReader(io.StringIO(claims_csv.read_text(encoding="utf-8"))))
    assert list(claims[0]) == list(CLAIM_COLUMNS)
    by_id = {c["claim_id"]: c for c in claims}
    assert (by_id["CLM-1"]["decision"], by_id["CLM-1"]["credit_total"]) == ("accepted", "125.00")
    assert (by_id["CLM-1"]["intervals_accepted"], by_id["CLM-1"]["intervals_rejected"]) == (
        "1",
        "1",
    )
    assert (by_id["CLM-2"]["decision"], by_id["CLM-2"]["reason"]) == (
        "rejected",
        "no_accepted_interval",
    )
