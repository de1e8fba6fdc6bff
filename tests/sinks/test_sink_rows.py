"""Pure tests: outputs to rows, tokens, migration rendering (no ClickHouse)."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal

from fold.replay import ReplayResult
from sinks import lineage as ln
from sinks import rows as rw
from sinks import tables
from sinks.buffer import batch_token
from sinks.dsn import StoreSettings
from sinks.migrate import load_migrations, render_migration
from sla.timeutil import parse_instant


def test_same_output_twice_gives_the_same_rows(replay: ReplayResult) -> None:
    first = rw.rows_for_outputs(replay.outputs)
    again = rw.rows_for_outputs(copy.deepcopy(replay.outputs))
    assert first == again
    assert set(first) == {
        tables.MINUTE_STATES,
        tables.SERVICE_MONTHS,
        tables.CONTRACT_MONTHS,
        tables.CLAIM_DECISIONS,
        tables.TICKET_VERDICTS,
        tables.TICKET_ALERTS,
        tables.SUPPORT_MONTHS,
    }
    assert list(first) == [t for t in tables.WRITE_ORDER if t in first]
    for table, rows in first.items():
        assert all(len(r) == len(tables.COLUMNS[table]) for r in rows)


def test_statement_json_column_is_the_output(replay: ReplayResult) -> None:
    for out in replay.outputs:
        if out["kind"] == "contract_month":
            row = rw.contract_month_row(out)
            assert json.loads(row[-1]) == out


def test_support_rows_carry_the_output_and_exact_values(replay: ReplayResult) -> None:
    for out in replay.outputs:
        if out["kind"] == "ticket_verdict":
            row = rw.ticket_verdict_row(out)
            assert json.loads(row[-1]) == out
            assert row[3] == parse_instant(out["opened_at"])
            minutes = out["response_business_minutes"]
            assert row[9] == (None if minutes is None else Decimal(minutes))
        elif out["kind"] == "ticket_alert":
            row = rw.ticket_alert_row(out)
            assert json.loads(row[-1]) == out
            assert row[:2] == (out["ticket_id"], out["alert"])
            assert row[7] == parse_instant(out["at"])
        elif out["kind"] == "support_month":
            row = rw.support_month_row(out)
            assert json.loads(row[-1]) == out
            assert row[1] == date(int(out["month"][:4]), int(out["month"][5:]), 1)
            assert row[3:8] == tuple(
                out[k] for k in ("met", "breached", "open", "at_risk", "responded")
            )
    verdict = next(o for o in replay.outputs if o["kind"] == "ticket_verdict")
    later = {**verdict, "computed_at": "2026-05-01T00:00:00Z"}
    assert rw.ticket_verdict_row(later)[11] > rw.ticket_verdict_row(verdict)[11]


def test_minute_states_follow_precedence(replay: ReplayResult) -> None:
    record = next(o for o in replay.outputs if o["kind"] == "service_month")
    out = {
        **record,
        "service": "api",
        "month": "2026-03",
        "revision": 1,
        "computed_at": "2026-04-10T00:00:00Z",
        "intervals": {
            "counted": [["2026-03-02T10:00:00Z", "2026-03-02T10:02:00Z"]],
            "excluded": [
                {"start": "2026-03-02T10:01:00Z", "end": "2026-03-02T10:03:00Z", "cause": "aws"}
            ],
            "no_data": [["2026-03-02T09:59:00Z", "2026-03-02T10:01:00Z"]],
        },
    }
    rows = rw.minute_state_rows(out)
    assert [(r[1].strftime("%H:%M"), r[2], r[3]) for r in rows] == [
        ("09:59", "no_data", ""),
        ("10:00", "counted_down", ""),
        ("10:01", "counted_down", ""),
        ("10:02", "excluded_down", "aws"),
    ]
    assert {r[4] for r in rows} == {rw.version_of(1, parse_instant("2026-04-10T00:00:00Z"))}


def test_revision_dominates_version() -> None:
    late = parse_instant("2030-01-01T00:00:00Z")
    early = parse_instant("2026-01-01T00:00:00Z")
    assert rw.version_of(1, early) > rw.version_of(0, late)
    assert rw.version_of(0, late) > rw.version_of(0, early)


def test_token_follows_the_payload() -> None:
    assert batch_token("t", b"abc") == batch_token("t", b"abc")
    assert batch_token("t", b"abc") != batch_token("t", b"abd")
    assert batch_token("t", b"abc") != batch_token("u", b"abc")


def test_dead_letter_rows_keep_raw_bytes(replay: ReplayResult) -> None:
    dead = replay.dead_letters[0]
    row = ln.dead_letter_row(dead.to_json())
    assert row[3] == dead.raw
    assert row == ln.dead_letter_row(dead.to_json())
    assert row[4] == "file"


def test_single_node_migrations_are_plain() -> None:
    sql = [
        s
        for m in load_migrations(StoreSettings().migrations_dir)
        for s in render_migration(m, StoreSettings())
    ]
    text = "\n".join(sql)
    assert "{{" not in text
    assert "ON CLUSTER" not in text
    assert "Replicated" not in text
    assert "Distributed" not in text
    assert "TTL" not in text  # billing and audit tables keep everything by default
    assert text.count("non_replicated_deduplication_window = 1000") == 9


def test_cluster_migrations_are_replicated_and_distributed() -> None:
    cfg = StoreSettings(database="sla", cluster="prod", ttl_days={"raw_events": 400})
    sql = [s for m in load_migrations(cfg.migrations_dir) for s in render_migration(m, cfg)]
    creates = [s for s in sql if "CREATE TABLE" in s]
    assert len(creates) == 18  # nine tables, each local + distributed
    cm = next(s for s in sql if "sla.contract_months_local ON CLUSTER prod" in s)
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', "
        "'{replica}', version)" in cm
    )
    assert any(
        "CREATE TABLE IF NOT EXISTS sla.contract_months ON CLUSTER prod "
        "AS sla.contract_months_local"
        in s
        and "Distributed(prod, sla, contract_months_local, cityHash64(contract_id))" in s
        for s in sql
    )
    raw = next(s for s in sql if "sla.raw_events_local" in s)
    assert "TTL toDateTime(received_at) + INTERVAL 400 DAY" in raw
