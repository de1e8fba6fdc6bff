"""The alerting rules: promtool's checks and unit tests, and a real Prometheus."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sinks.metrics import SERIES_NAMES
from tests.prometheus.conftest import PROMETHEUS_DIR, Prometheus

pytestmark = pytest.mark.prometheus

RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)\s*$", RULES.read_text(), flags=re.MULTILINE)


def promtool_run(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    proc = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return output


def test_check_rules(promtool: str) -> None:
    assert "SUCCESS" in promtool_run(promtool, "check", "rules", str(RULES))


def test_check_config(promtool: str) -> None:
    promtool_run(promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))


def test_rule_unit_tests(promtool: str) -> None:
    assert "SUCCESS" in promtool_run(promtool, "test", "rules", RULES_TEST.name)


def test_every_alert_is_tested_firing_and_silent() -> None:
    """Each alert has a rules_test case expecting it and one expecting no alert."""
    text = RULES_TEST.read_text()
    # Split at each alert_rule_test item; an item runs to the next eval_time.
    items = re.split(r"(?=[-{]\s*eval_time:)", text)
    fires: set[str] = set()
    silent: set[str] = set()
    for item in items:
        found = re.search(r"alertname: (\w+)", item)
        if found is None:
            continue
        if re.search(r"exp_alerts: \[\]", item):
            silent.add(found.group(1))
        elif "exp_labels" in item:
            fires.add(found.group(1))
    names = set(alert_names())
    assert names, "no alert found in rules.yml"
    assert names - fires == set(), "alerts without a firing test"
    assert names - silent == set(), "alerts without a silent test"


def test_rules_use_only_exported_metrics() -> None:
    used = set(re.findall(r"\b(availability_[a-z_]+)", RULES.read_text()))
    assert used <= SERIES_NAMES, used - SERIES_NAMES


def test_every_alert_is_documented() -> None:
    doc = (PROMETHEUS_DIR.parents[1] / "docs" / "alerting.md").read_text()
    for name in alert_names():
        assert f"### {name}" in doc, name
        runbook = f'runbook_url: "{{{{ $externalLabels.runbook_base_url }}}}#{name.lower()}"'
        assert runbook in RULES.read_text(), name


# -- a real Prometheus server ------------------------------------------------------


def firing_names(prom: Prometheus) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for alert in prom.firing():
        labels = alert["labels"]
        out.setdefault(labels["alertname"], set()).add(labels.get("contract_id", ""))
    return out


def test_prometheus_loads_every_rule(prometheus: Prometheus) -> None:
    groups = prometheus.api("/api/v1/rules")["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert loaded == set(alert_names())
    assert all(r["health"] == "ok" for g in groups for r in g["rules"])


def test_breaching_month_fires_credit_and_budget_alerts(prometheus: Prometheus) -> None:
    """PO-1 is one minute over budget (10 % tier); PO-2 has 19 of 44 minutes left."""
    prometheus.wait_for(
        "AvailabilityCreditTierReached and AvailabilityErrorBudgetBelowHalf",
        lambda: (
            {"AvailabilityCreditTierReached", "AvailabilityErrorBudgetBelowHalf"}
            <= set(firing_names(prometheus))
        ),
    )
    firing = firing_names(prometheus)
    assert firing["AvailabilityCreditTierReached"] == {"PO-1"}
    assert firing["AvailabilityErrorBudgetBelowHalf"] == {"PO-2"}
    tier = [a for a in prometheus.firing() if a["labels"]["alertname"].endswith("TierReached")]
    assert tier[0]["labels"]["credit_percent"] == "10"
    # Silent: PO-1 is past exhausted (breached), PO-2 above a quarter; no burn
    # (the counters do not move), the pipeline is alive.
    for quiet in (
        "AvailabilityErrorBudgetExhausted",
        "AvailabilityErrorBudgetBelowQuarter",
        "AvailabilityErrorBudgetFastBurn",
        "AvailabilityPipelineStalled",
        "AvailabilityWorkerDown",
    ):
        assert quiet not in firing, quiet


def test_scraped_values_are_exact(prometheus: Prometheus) -> None:
    result = prometheus.query(
        'availability_contract_error_budget_remaining_minutes{contract_id="PO-1"}'
    )
    assert [r["value"][1] for r in result] == ["-1"]
    result = prometheus.query('availability_contract_credit_amount{contract_id="PO-1"}')
    assert result[0]["metric"]["currency"] == "GBP"
    assert result[0]["value"][1] == "100"


def test_high_ticket_at_risk_pages_on_a_real_prometheus(prometheus: Prometheus) -> None:
    """T-1 (High) is at risk at the collector's clock; the histogram reaches PromQL."""
    prometheus.wait_for(
        "AvailabilitySupportHighTicketAtRisk",
        lambda: "AvailabilitySupportHighTicketAtRisk" in firing_names(prometheus),
    )
    (alert,) = [
        a
        for a in prometheus.firing()
        if a["labels"]["alertname"] == "AvailabilitySupportHighTicketAtRisk"
    ]
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["ticket_severity"] == "high"
    # The breach counter does not move while the state stands still: no breach alert.
    assert "AvailabilitySupportTicketBreached" not in firing_names(prometheus)
    # T-4 (High) answered after 180 business minutes, alone in the 2-3 h bucket.
    result = prometheus.query(
        "histogram_quantile(0.5, sum by (ticket_severity, le) "
        '(availability_support_first_response_business_seconds_bucket{ticket_severity="high"}))'
    )
    assert [r["value"][1] for r in result] == ["9000"]
