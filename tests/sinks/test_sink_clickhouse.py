"""The ClickHouse store on the embedded engine (chDB)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from sinks import rows as rw
from sinks.clickhouse import ClickHouseStore, MigrationError, StoreSettings, load_migrations
from streams.replay import ReplayResult
from streams.report import fetch_report_inputs, render_report

pytestmark = pytest.mark.clickhouse


def of_kind(outputs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in outputs if o["kind"] == kind]


def count(store: ClickHouseStore, table: str) -> int:
    return int(store.client.command(f"SELECT count() FROM {store.db}.{table}"))


def test_migrations_apply_twice_cleanly(store: ClickHouseStore) -> None:
    # The fixture migrated once already: a second run applies nothing.
    assert store.migrate() == []
    applied = store.applied_migrations()
    assert sorted(applied) == [m.version for m in load_migrations(store.settings.migrations_dir)]
    tables = store.client.query(
        "SELECT name, engine FROM system.tables WHERE database = {d:String} ORDER BY name",
        parameters={"d": store.db},
    ).result_rows
    assert {n for n, _ in tables} == {
        "claim_decisions",
        "contract_months",
        "dead_letters",
        "minute_states",
        "raw_events",
        "schema_migrations",
        "service_months",
    }
    assert {e for _, e in tables} == {"ReplacingMergeTree"}


def test_edited_migration_is_refused(store: ClickHouseStore, tmp_path: Any) -> None:
    for mig in load_migrations(store.settings.migrations_dir):
        (tmp_path / f"{mig.label}.sql").write_text(mig.text + "\n-- edited\n")
    edited = ClickHouseStore(
        store.client, StoreSettings(database=store.db, migrations_dir=tmp_path)
    )
    with pytest.raises(MigrationError, match="changed after it was applied"):
        edited.migrate()


def test_replay_round_trip(store: ClickHouseStore, replay: ReplayResult) -> None:
    assert store.write_outputs(replay.outputs) > 0
    for st in of_kind(replay.outputs, "contract_month"):
        assert store.latest_contract_month(st["contract_id"], st["month"]) == st
        assert store.contract_month_history(st["contract_id"], st["month"]) == [st]
    claims = of_kind(replay.outputs, "claim_decision")
    for cid in {c["contract_id"] for c in claims}:
        want = sorted(
            (c for c in claims if c["contract_id"] == cid),
            key=lambda c: (c["submitted_at"], c["claim_id"]),
        )
        assert store.claim_decisions(cid) == want
    services = of_kind(replay.outputs, "service_month")
    for month in {s["month"] for s in services}:
        want = sorted((s for s in services if s["month"] == month), key=lambda s: s["service"])
        assert store.service_months(month) == want
    assert store.latest_contract_month("nobody", "2026-03") is None


def test_retried_batch_does_not_duplicate(store: ClickHouseStore, replay: ReplayResult) -> None:
    store.write_outputs(replay.outputs)
    before = {t: count(store, t) for t in rw.WRITE_ORDER}
    store.write_outputs(copy.deepcopy(replay.outputs))  # same rows, same tokens
    assert {t: count(store, t) for t in rw.WRITE_ORDER} == before  # no FINAL needed
    dead = [d.to_json() for d in replay.dead_letters]
    store.write_dead_letters(dead)
    store.write_dead_letters(dead)
    assert count(store, rw.DEAD_LETTERS) == len(dead)
    assert sum(store.dead_letter_counts().values()) == len(dead)


def test_revision_is_latest_and_history_is_kept(
    store: ClickHouseStore, replay: ReplayResult
) -> None:
    st = of_kind(replay.outputs, "contract_month")[0]
    first = {
        **st,
        "revision": 0,
        "status": "final",
        "credit_amount": "0.00",
        "computed_at": "2026-04-04T00:00:00Z",
    }
    provisional = {**first, "status": "provisional", "computed_at": "2026-04-01T00:00:00Z"}
    second = {**st, "revision": 1, "status": "revised"}
    third = {**st, "revision": 2, "status": "revised", "computed_at": "2026-07-01T00:00:00Z"}
    # Out of order on purpose: the version, not arrival, decides.
    store.write_outputs([second])
    store.write_outputs([first, provisional])
    store.write_outputs([third])
    cid, month = st["contract_id"], st["month"]
    assert store.latest_contract_month(cid, month) == third
    assert store.contract_month_history(cid, month) == [first, second, third]


def test_raw_events_lineage(store: ClickHouseStore) -> None:
    at = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    raw = b'{"type":"probe","event_id":"p-1","service":"api"}'
    evs = [
        rw.RawEvent(raw, at, {"topic": "availability.probes", "partition": 2, "offset": 41}),
        rw.RawEvent(raw, at, {"file": "month.jsonl", "line": 7}),
    ]
    assert store.write_raw_events(evs) == 2
    store.write_raw_events(evs)
    got = store.client.query(
        f"SELECT event_id, type, source_kind, kafka_topic, kafka_partition, kafka_offset, "
        f"file, line FROM {store.db}.raw_events FINAL ORDER BY source_kind"
    ).result_rows
    assert got == [
        ("p-1", "probe", "file", None, None, None, "month.jsonl", 7),
        ("p-1", "probe", "kafka", "availability.probes", 2, 41, None, None),
    ]


def test_minute_states_use_the_latest_snapshot(
    store: ClickHouseStore, replay: ReplayResult
) -> None:
    store.write_outputs(replay.outputs)
    for sm in of_kind(replay.outputs, "service_month"):
        got = store.minute_state_counts(sm["month"]).get(sm["service"], {})
        assert got.get("counted_down", 0) <= sm["counted_downtime_minutes"]
        assert got.get("excluded_down", 0) == sum(sm["excluded_minutes"].values())
    # A later snapshot with no downtime hides the earlier minute rows.
    sm = of_kind(replay.outputs, "service_month")[0]
    clean = {
        **sm,
        "revision": sm["revision"] + 1,
        "intervals": {"counted": [], "excluded": [], "no_data": []},
    }
    store.write_outputs([clean])
    assert sm["service"] not in store.minute_state_counts(sm["month"])


def test_every_report_query_runs(store: ClickHouseStore, replay: ReplayResult) -> None:
    store.write_outputs(replay.outputs)
    st = of_kind(replay.outputs, "contract_month")[0]
    statement, claims = fetch_report_inputs(store, st["contract_id"], st["month"])
    assert statement == st
    assert all(c["contract_id"] == st["contract_id"] for c in claims)
    for fmt in ("table", "json", "csv", "html"):
        assert st["uptime_percent"] in render_report(statement, claims, fmt)
    with pytest.raises(LookupError):
        fetch_report_inputs(store, st["contract_id"], "1999-01")


def test_encoding_is_deterministic(store: ClickHouseStore, replay: ReplayResult) -> None:
    tables = rw.rows_for_outputs(replay.outputs)
    again = rw.rows_for_outputs(copy.deepcopy(replay.outputs))
    for table, rows in tables.items():
        cols = rw.COLUMNS[table]
        assert store.encode(table, cols, rows) == store.encode(table, cols, again[table])
