"""The billing views: one row per contract-month (latest revision) and per claim, named as
the JSON fields, coverage included."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sinks.dsn import StoreSettings
from sinks.migrate import load_migrations, render_migration
from sinks.store import ClickHouseStore
from tests.helpers import incident, run
from tests.sinks.test_report_explained import AWS, month_events

pytestmark = pytest.mark.clickhouse


def _rows(store: ClickHouseStore, sql: str) -> list[dict[str, object]]:
    res = store.client.query(sql)
    return [dict(zip(res.column_names, row, strict=True)) for row in res.result_rows]


def test_views_hold_the_latest_revision_with_coverage(store: ClickHouseStore) -> None:
    events = month_events()
    store.write_outputs(run(events, "2026-05-10T00:00:00Z").outputs)
    # reclassified after finality: the AWS minutes become internal, a revision 1
    late = incident(
        "INC-7", ["api"], *AWS, cause="internal", revision=1, recorded_at="2026-05-11T00:00:00Z"
    )
    store.write_outputs(run([*events, late], "2026-05-12T00:00:00Z").outputs)
    store.flush()
    (month,) = _rows(store, f"SELECT * FROM {store.db}.billing_contract_months")
    assert (month["contract_id"], str(month["month"])) == ("PO-1", "2026-03-01")
    assert (month["revision"], month["status"]) == (1, "revised")
    assert month["counted_downtime_minutes"] == 82  # 52 + the 30 no longer excluded
    assert month["coverage_percent"] == Decimal("1.3440")
    assert (month["elapsed_minutes"], month["remaining_minutes"], month["data_minutes"]) == (
        44640,
        0,
        600,
    )
    assert month["credit_amount"] == Decimal("125.00")
    claims = {r["claim_id"]: r for r in _rows(store, f"SELECT * FROM {store.db}.billing_claims")}
    assert claims["CLM-1"]["decision"] == "accepted"
    assert (claims["CLM-1"]["intervals_accepted"], claims["CLM-1"]["intervals_rejected"]) == (2, 0)
    assert (claims["CLM-2"]["decision"], claims["CLM-2"]["intervals_rejected"]) == ("rejected", 1)


def test_views_render_on_a_cluster_over_the_distributed_tables() -> None:
    settings = StoreSettings(cluster="c1", database="availability")
    (mig,) = [m for m in load_migrations(settings.migrations_dir) if "billing_views" in m.name]
    sql = render_migration(mig, settings)
    assert len(sql) == 2
    assert all("ON CLUSTER c1" in s for s in sql)
    assert "FROM availability.contract_months\n" in sql[0]
    assert "FROM availability.claim_decisions\n" in sql[1]
