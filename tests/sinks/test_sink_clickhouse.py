"""The ClickHouse store on the embedded engine (chDB)."""

from __future__ import annotations

import asyncio
import copy
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fold.replay import ReplayResult
from reports.month import fetch_report_inputs, render_report
from sinks import lineage as ln
from sinks import rows as rw
from sinks import tables
from sinks.dsn import StoreSettings, check_dsn, store_settings
from sinks.migrate import MigrationError, load_migrations
from sinks.store import ClickHouseStore
from sinks.writer import StoreWriter
from sla.timeutil import parse_instant

pytestmark = pytest.mark.clickhouse

SUPPORT_KINDS = ("ticket_verdict", "ticket_alert", "support_month")


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
    views = {n for n, e in tables if e == "View"}
    assert views == {"billing_claims", "billing_contract_months"}
    tables = [(n, e) for n, e in tables if n not in views]
    assert {n for n, _ in tables} == {
        "claim_decisions",
        "contract_months",
        "dead_letters",
        "minute_states",
        "raw_events",
        "schema_migrations",
        "service_months",
        "support_months",
        "ticket_alerts",
        "ticket_verdicts",
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
    before = {t: count(store, t) for t in tables.WRITE_ORDER}
    store.write_outputs(copy.deepcopy(replay.outputs))  # same rows, same tokens
    assert {t: count(store, t) for t in tables.WRITE_ORDER} == before  # no FINAL needed
    dead = [d.to_json() for d in replay.dead_letters]
    store.write_dead_letters(dead)
    store.write_dead_letters(dead)
    assert count(store, tables.DEAD_LETTERS) == len(dead)
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
        ln.RawEvent(raw, at, {"topic": "availability.probes", "partition": 2, "offset": 41}),
        ln.RawEvent(raw, at, {"file": "month.jsonl", "line": 7}),
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
    first = rw.rows_for_outputs(replay.outputs)
    again = rw.rows_for_outputs(copy.deepcopy(replay.outputs))
    for table, rows in first.items():
        cols = tables.COLUMNS[table]
        assert store.encode(table, cols, rows) == store.encode(table, cols, again[table])


# -- support ------------------------------------------------------------------------


def test_support_round_trip(store: ClickHouseStore, replay: ReplayResult) -> None:
    """Verdicts, alerts and compliance rows read back equal to what replay printed."""
    verdicts = of_kind(replay.outputs, "ticket_verdict")
    alerts = of_kind(replay.outputs, "ticket_alert")
    months = of_kind(replay.outputs, "support_month")
    assert verdicts
    assert {a["alert"] for a in alerts} == {"at_risk", "breached"}
    assert months
    store.write_outputs(replay.outputs)
    assert store.ticket_verdicts() == sorted(
        verdicts, key=lambda v: (v["opened_at"], v["ticket_id"])
    )
    assert store.ticket_alerts() == sorted(
        alerts, key=lambda a: (a["at"], a["ticket_id"], a["alert"])
    )
    for month in {m["month"] for m in months}:
        want = sorted(
            (m for m in months if m["month"] == month),
            key=lambda m: (m["client_id"], m["severity"]),
        )
        assert store.support_months(month) == want
    acme = [v for v in verdicts if v["client_id"] == "acme"]
    assert acme
    assert {v["ticket_id"] for v in store.ticket_verdicts("acme")} == {v["ticket_id"] for v in acme}
    assert all(a["client_id"] == "acme" for a in store.ticket_alerts("acme"))
    assert store.ticket_verdicts(month="1999-01") == []
    assert [m["client_id"] for m in store.support_months("2026-03", "acme")] == ["acme"] * 3


def test_support_rewrite_is_idempotent_and_later_evaluation_wins(
    store: ClickHouseStore, replay: ReplayResult
) -> None:
    support = [o for o in replay.outputs if o["kind"] in SUPPORT_KINDS]
    store.write_outputs(support)
    support_tables = (tables.TICKET_VERDICTS, tables.TICKET_ALERTS, tables.SUPPORT_MONTHS)
    before = {t: count(store, t) for t in support_tables}
    assert before == {
        tables.TICKET_VERDICTS: len(of_kind(support, "ticket_verdict")),
        tables.TICKET_ALERTS: len(of_kind(support, "ticket_alert")),
        tables.SUPPORT_MONTHS: len(of_kind(support, "support_month")),
    }
    store.write_outputs(copy.deepcopy(support))  # same rows, same tokens
    assert {t: count(store, t) for t in support_tables} == before  # no FINAL needed
    # A later evaluation of one ticket replaces it; an earlier one does not.
    verdict = of_kind(support, "ticket_verdict")[0]
    later = {**verdict, "severity": "high", "computed_at": "2026-05-01T00:00:00Z"}
    earlier = {**verdict, "severity": "low", "computed_at": "2026-04-01T00:00:00Z"}
    store.write_outputs([later])
    store.write_outputs([earlier])
    got = {v["ticket_id"]: v for v in store.ticket_verdicts()}
    assert got[verdict["ticket_id"]] == later
    assert len(got) == len(of_kind(support, "ticket_verdict"))


def test_support_columns_hold_exact_values(store: ClickHouseStore, replay: ReplayResult) -> None:
    store.write_outputs(replay.outputs)
    alert = of_kind(replay.outputs, "ticket_alert")[0]
    row = store.client.query(
        f"SELECT toString(alert), alert_at, deadline FROM {store.db}.ticket_alerts FINAL "
        "WHERE ticket_id = {t:String} AND alert = {a:String}",
        parameters={"t": alert["ticket_id"], "a": alert["alert"]},
    ).result_rows
    assert len(row) == 1
    assert row[0][0] == alert["alert"]
    assert row[0][1].astimezone(UTC) == parse_instant(alert["at"])
    assert row[0][2].astimezone(UTC) == parse_instant(alert["deadline"])
    responded = next(
        v for v in of_kind(replay.outputs, "ticket_verdict") if v["response_business_minutes"]
    )
    minutes = store.client.command(
        f"SELECT toString(response_business_minutes) FROM {store.db}.ticket_verdicts FINAL "
        "WHERE ticket_id = {t:String}",
        parameters={"t": responded["ticket_id"]},
    )
    assert Decimal(str(minutes)) == Decimal(responded["response_business_minutes"])


def test_microsecond_instants_survive(store: ClickHouseStore, replay: ReplayResult) -> None:
    alert = {**of_kind(replay.outputs, "ticket_alert")[0], "at": "2026-03-02T10:00:00.000001Z"}
    store.write_outputs([alert])
    (got,) = store.client.query(f"SELECT alert_at FROM {store.db}.ticket_alerts FINAL").result_rows
    assert got[0].astimezone(UTC) == datetime(2026, 3, 2, 10, 0, 0, 1, tzinfo=UTC)


def test_server_password_comes_from_the_dsn_or_a_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sinks.dsn import _password

    secret = tmp_path / "clickhouse-password"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "from-the-variable")
    assert _password(None) == "from-the-file"
    assert _password("in%40dsn") == "in@dsn"
    monkeypatch.delenv("CLICKHOUSE_PASSWORD_FILE")
    assert _password(None) == "from-the-variable"
    monkeypatch.delenv("CLICKHOUSE_PASSWORD")
    assert _password(None) == ""
    secret.write_text("")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD_FILE", str(secret))
    with pytest.raises(ValueError, match="CLICKHOUSE_PASSWORD_FILE"):
        _password(None)


def test_server_calls_are_bounded_by_default_and_by_the_dsn() -> None:
    default = store_settings("http://user:pw@clickhouse:8123/sla")
    assert (default.database, default.connect_timeout, default.send_receive_timeout) == (
        "sla",
        10,
        30,
    )
    tuned = store_settings("https://h/x?connect_timeout=2&send_receive_timeout=5&database=y")
    assert (tuned.database, tuned.connect_timeout, tuned.send_receive_timeout) == ("y", 2, 5)
    # explicit settings win over the DSN
    assert (
        store_settings(
            "http://h/x?send_receive_timeout=5", send_receive_timeout=7
        ).send_receive_timeout
        == 7
    )
    for bad in ("?send_receive_timeout=0", "?connect_timeout=-1", "?send_receive_timeout=1.5"):
        with pytest.raises(ValueError, match="timeout"):
            store_settings(f"http://h/x{bad}")
    with pytest.raises(ValueError, match="scheme"):
        check_dsn("mysql://h/x")


def test_staged_rows_are_written_by_one_flush(store: ClickHouseStore, replay: ReplayResult) -> None:
    store.stage_outputs(replay.outputs)
    store.stage_dead_letters(replay.dead_letters)
    assert count(store, "contract_months") == 0  # staging does no I/O
    assert store.pending > 0
    written = store.flush()
    assert written > 0
    assert store.pending == 0
    assert store.flush() == 0
    assert count(store, "dead_letters") == len(replay.dead_letters)


def test_the_writer_owns_its_store_on_one_thread(chdb_dsn: str, replay: ReplayResult) -> None:
    threads: list[str] = []

    def recorded(dsn: str, **kw: Any) -> ClickHouseStore:
        from sinks.store import connect

        threads.append(threading.current_thread().name)
        return connect(dsn, **kw)

    async def scenario() -> tuple[int, int, int, str]:
        writer = StoreWriter(chdb_dsn, settings={"database": "writer_thread"}, opener=recorded)
        first = await writer.write_outputs(replay.outputs)
        again = await writer.write_outputs(replay.outputs)  # same rows, same tokens: dropped
        n = await writer.call(
            lambda st: int(st.client.command(f"SELECT count() FROM {st.db}.contract_months"))
        )
        where = await writer.call(lambda st: threading.current_thread().name)
        await writer.call(lambda st: st.client.command(f"DROP DATABASE {st.db}"))
        await writer.aclose()
        return first, again, n, where

    first, again, n, where = asyncio.run(scenario())
    assert threads == ["clickhouse-writer"]
    assert where == "clickhouse-writer"
    assert first == again > 0
    assert n == len(of_kind(replay.outputs, "contract_month"))
