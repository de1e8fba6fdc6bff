"""Grafana dashboards: structure, and every query run against real data.

The ClickHouse queries run on chDB holding a replayed simulated month, with
the plugin's macros expanded to a concrete range; the PromQL queries run on
the live Prometheus of the conftest, which scrapes the collector.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fold.replay import ReplayResult
from sinks.metrics import SERIES_NAMES
from sla.model import JSON
from tests.prometheus.conftest import GRAFANA_DIR, DashboardData, Prometheus

DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
PROMETHEUS_TYPE = "prometheus"
CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"


def provisioned_datasources() -> dict[str, str]:
    """uid -> type of the provisioned data sources.

    The provisioning file is plain block YAML of one shape; reading the
    ``uid``/``type`` pairs of its list items keeps a YAML parser out of the
    dependencies.
    """
    text = (GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yaml").read_text()
    out: dict[str, str] = {}
    for item in re.split(r"\n  - ", text)[1:]:
        uid = re.search(r"^\s*uid: (\S+)$", item, flags=re.MULTILINE)
        kind = re.search(r"^\s*type: (\S+)$", item, flags=re.MULTILINE)
        assert uid, item
        assert kind, item
        out[uid.group(1)] = kind.group(1)
    return out


def load(path: Path) -> JSON:
    dash: JSON = json.loads(path.read_text())
    return dash


def panels(dash: JSON) -> Iterator[JSON]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(kind: str) -> list[tuple[str, str, JSON]]:
    """(dashboard uid, panel title, target) of every target of a data source type."""
    out = []
    for path in DASHBOARDS:
        dash = load(path)
        for panel in panels(dash):
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == kind:
                    out.append((dash["uid"], panel["title"], target))
    return out


# -- structure -------------------------------------------------------------------------


def test_dashboards_exist() -> None:
    names = {p.name for p in DASHBOARDS}
    assert names == {
        "billing.json",
        "pipeline-health.json",
        "service-drilldown.json",
        "sla-overview.json",
        "support.json",
    }


def test_provisioning_points_at_the_dashboards() -> None:
    text = (GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    assert "type: file" in text
    assert re.search(r"^\s*path: /\S+$", text, flags=re.MULTILINE)
    kinds = set(provisioned_datasources().values())
    assert kinds == {PROMETHEUS_TYPE, CLICKHOUSE_TYPE}


def test_uids_and_titles_are_unique() -> None:
    dashes = [load(p) for p in DASHBOARDS]
    uids = [d["uid"] for d in dashes]
    titles = [d["title"] for d in dashes]
    assert len(set(uids)) == len(uids)
    assert len(set(titles)) == len(titles)
    for d in dashes:
        assert len(d["uid"]) <= 40  # Grafana's limit
        ids = [p["id"] for p in panels(d)]
        assert len(set(ids)) == len(ids), d["uid"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_has_a_resolvable_query(path: Path) -> None:
    sources = provisioned_datasources()
    dash = load(path)
    for var in dash["templating"]["list"]:
        assert sources[var["datasource"]["uid"]] == var["datasource"]["type"]
    for panel in panels(dash):
        if panel["type"] == "row":
            continue
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            ds = target["datasource"]
            assert sources.get(ds["uid"]) == ds["type"], (panel["title"], ds)
            if ds["type"] == PROMETHEUS_TYPE:
                assert target["expr"].strip(), panel["title"]
            else:
                assert target["editorType"] == "sql"
                assert target["queryType"] in ("table", "timeseries")
                # The plugin's formats: 0 time series, 1 table.
                assert target["format"] == (0 if target["queryType"] == "timeseries" else 1)
                assert target["rawSql"].strip(), panel["title"]


def test_promql_uses_only_exported_metrics() -> None:
    for _, title, target in queries(PROMETHEUS_TYPE):
        for name in re.findall(r"\b(availability_[a-z_]+)", target["expr"]):
            assert name in SERIES_NAMES, (title, name)


# -- ClickHouse queries on replayed data ------------------------------------------------

FROM = datetime(2026, 3, 1, tzinfo=UTC)
VARIABLES = {"contract": ("PO-1001", "PO-2002"), "service": ("api", "web")}


def expand_sql(sql: str, start: datetime, end: datetime, values: dict[str, str]) -> str:
    """Expand the ClickHouse plugin's macros as the plugin does, and the variables."""
    a, b = int(start.timestamp()), int(end.timestamp())
    sql = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        lambda m: f"{m.group(1)} >= toDateTime({a}) AND {m.group(1)} <= toDateTime({b})",
        sql,
    )
    sql = re.sub(
        r"\$__timeInterval\(([^)]+)\)",
        lambda m: f"toStartOfInterval(toDateTime({m.group(1)}), INTERVAL 3600 second)",
        sql,
    )
    sql = sql.replace("$__fromTime", f"toDateTime({a})").replace("$__toTime", f"toDateTime({b})")
    for name, value in values.items():
        sql = sql.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in sql, sql
    return sql


def variable_choices(sql: str) -> list[dict[str, str]]:
    used = [name for name in VARIABLES if f"${{{name}}}" in sql or f"${name}" in sql]
    if not used:
        return [{}]
    name = used[0]
    return [{name: v} for v in VARIABLES[name]]


@pytest.mark.clickhouse
def test_every_clickhouse_query_returns_rows(dashboard_data: DashboardData) -> None:
    # Dead letters carry the time they were written: the range runs from the
    # simulated month to tomorrow.
    end = datetime.now(UTC) + timedelta(days=1)
    client = dashboard_data.client
    ran = 0
    for uid, title, target in queries(CLICKHOUSE_TYPE):
        for values in variable_choices(target["rawSql"]):
            sql = expand_sql(target["rawSql"], FROM, end, values)
            rows = client.query(sql).result_rows
            assert rows, (uid, title, values)
            ran += 1
    assert ran >= 12


def _run(data: DashboardData, title: str, **values: str) -> list[JSON]:
    end = datetime.now(UTC) + timedelta(days=1)
    for _, panel, target in queries(CLICKHOUSE_TYPE):
        if panel == title:
            res = data.client.query(expand_sql(target["rawSql"], FROM, end, values))
            return [dict(zip(res.column_names, row, strict=True)) for row in res.result_rows]
    raise AssertionError(f"no panel {title!r}")


@pytest.mark.clickhouse
def test_clickhouse_results_are_the_statements(dashboard_data: DashboardData) -> None:
    """The numbers on the billing and drill-down panels are the replay's."""
    credits = _run(dashboard_data, "Credits by contract and month")
    march = {r["contract_id"]: r for r in credits if str(r["month"]) == "2026-03-01"}
    assert march["PO-1001"]["credit_amount"] == Decimal("275.00")
    assert march["PO-1001"]["currency"] == "GBP"
    assert march["PO-1001"]["revision"] == 1
    assert march["PO-1001"]["status"] == "revised"
    revisions = _run(dashboard_data, "Statement revisions")
    assert {(r["contract_id"], str(r["month"]), r["revision"]) for r in revisions} >= {
        ("PO-1001", "2026-03-01", 1)
    }
    exclusions = _run(dashboard_data, "Exclusions", service="api")
    assert {r["cause"] for r in exclusions} == {"aws"}
    months = _run(dashboard_data, "Months", service="web")
    web_march = next(r for r in months if str(r["month"]) == "2026-03-01")
    assert (web_march["counted"], web_march["excluded"], web_march["no_data"]) == (50, 16, 41)
    timeline = _run(dashboard_data, "Minute timeline (non-up minutes)", service="web")
    by_state: dict[str, int] = {}
    for row in timeline:
        by_state[row["state"]] = by_state.get(row["state"], 0) + int(row["minutes"])
    assert by_state == {"counted_down": 50, "excluded_down": 16, "no_data": 41}
    dead = _run(dashboard_data, "Dead letters by reason")
    assert sum(int(r["dead_letters"]) for r in dead) == 91


@pytest.mark.clickhouse
def test_support_panels_are_the_replayed_verdicts(
    dashboard_data: DashboardData, sim_replay: ReplayResult
) -> None:
    """Compliance, alerts and verdicts on the support dashboard are the replay's."""
    months = [o for o in sim_replay.outputs if o["kind"] == "support_month"]
    compliance = _run(dashboard_data, "First-response compliance")
    want = {
        (m["client_id"], m["month"], m["severity"]): (m["met"], m["breached"], m["open"])
        for m in months
        if m["met"] + m["breached"] + m["open"]
    }
    got = {
        (r["client_id"], r["month"][:7], r["severity"]): (r["met"], r["breached"], r["open"])
        for r in compliance
    }
    assert got == want
    for r in compliance:
        decided = r["met"] + r["breached"]
        if decided:
            assert r["compliance"] == pytest.approx(r["met"] / decided, abs=1e-4)
    by_client = _run(dashboard_data, "Compliance by client and month")
    assert {r["client_month"] for r in by_client} == {
        f"{c} {m}-01" for c, m, _ in want if want[(c, m, _)][0] + want[(c, m, _)][1]
    }
    alerts = [o for o in sim_replay.outputs if o["kind"] == "ticket_alert"]
    table = _run(dashboard_data, "Open alerts")
    assert sorted((r["ticket_id"], r["alert"]) for r in table) == sorted(
        (a["ticket_id"], a["alert"]) for a in alerts
    )
    statuses = {r["ticket_id"]: r["status"] for r in table}
    verdicts = {o["ticket_id"]: o for o in sim_replay.outputs if o["kind"] == "ticket_verdict"}
    assert all(verdicts[t]["status"] == status for t, status in statuses.items())
    shown = _run(dashboard_data, "Ticket verdicts")
    assert {r["ticket_id"] for r in shown} == set(verdicts)


# -- PromQL on the live Prometheus --------------------------------------------------------

PROM_VALUES = {
    "contract": "PO-1",
    "service": "api",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}


def expand_promql(expr: str) -> str:
    for name, value in sorted(PROM_VALUES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in expr, expr
    return expr


@pytest.mark.prometheus
def test_every_promql_query_returns_data(prometheus: Prometheus) -> None:
    # The firing-alerts panel needs an alert, the ratio rule a 10-minute rate:
    # both exist a few seconds after start.
    prometheus.wait_for(
        "a firing alert", lambda: bool(prometheus.query('ALERTS{alertstate="firing"}'))
    )
    empty = []
    for uid, title, target in queries(PROMETHEUS_TYPE):
        expr = expand_promql(target["expr"])
        if not prometheus.query(expr):
            empty.append((uid, title, expr))
    assert empty == []


@pytest.mark.prometheus
def test_variable_queries_list_the_contracts(prometheus: Prometheus) -> None:
    for path in DASHBOARDS:
        for var in load(path)["templating"]["list"]:
            found = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["definition"])
            assert found, var["definition"]
            values = prometheus.api(
                f"/api/v1/label/{found.group(2)}/values", **{"match[]": found.group(1)}
            )
            assert values, var["name"]
