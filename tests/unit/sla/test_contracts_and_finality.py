"""SPEC sections 1, 5, 6 and 9: contract months, partial months, finality, readings."""

from __future__ import annotations

from sla.model import JSON
from tests.helpers import contract, incident, one, outputs, probes_every_minute


def test_contract_starting_mid_month_counts_only_minutes_in_force() -> None:
    events = [
        contract(effective_from="2026-03-16T12:00:00Z"),
        # downtime before the contract starts does not count
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 100, ok=False),
        *probes_every_minute("api", "2026-03-20T00:00:00Z", 20, ok=False),
    ]
    st = one(events, "2026-06-01T00:00:00Z", "contract_month", month="2026-03")
    assert st["period_start"] == "2026-03-16T12:00:00Z"
    assert st["minutes_in_month"] == (15 * 24 + 12) * 60  # 22,320
    assert st["counted_downtime_minutes"] == 20
    assert st["error_budget_minutes"] == 22
    assert st["uptime_percent"] == "99.9103"


def test_contract_ending_mid_month() -> None:
    events = [
        contract(effective_to="2026-03-11T00:00:00Z"),
        *probes_every_minute("api", "2026-03-20T00:00:00Z", 20, ok=False),
    ]
    st = one(events, "2026-06-01T00:00:00Z", "contract_month", month="2026-03")
    assert st["minutes_in_month"] == 10 * 1440
    assert st["counted_downtime_minutes"] == 0
    months = [o["month"] for o in outputs(events, "2026-06-01T00:00:00Z", "contract_month")]
    assert months == ["2026-03"]


def test_london_months_are_real_lengths() -> None:
    events = [
        contract(timezone="Europe/London"),
        # 22:50 UTC on 31 March is 23:50 BST, still March
        *probes_every_minute("api", "2026-03-31T22:50:00Z", 5, ok=False),
        # 23:30 UTC on 31 March is 00:30 BST on 1 April
        *probes_every_minute("api", "2026-03-31T23:30:00Z", 10, ok=False),
        *probes_every_minute("api", "2026-10-25T00:30:00Z", 5, ok=False),
    ]
    res = outputs(events, "2026-12-01T00:00:00Z", "contract_month")
    by_month = {o["month"]: o for o in res}
    assert by_month["2026-03"]["minutes_in_month"] == 44_580
    assert by_month["2026-03"]["counted_downtime_minutes"] == 5
    assert by_month["2026-04"]["counted_downtime_minutes"] == 10
    assert by_month["2026-10"]["minutes_in_month"] == 44_700
    assert by_month["2026-10"]["counted_downtime_minutes"] == 5


def test_latest_contract_revision_wins_in_any_order() -> None:
    r0 = contract(services={"api": "100.00"}, revision=0)
    r1 = contract(services={"api": "300.00"}, revision=1)
    down = probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False)
    for events in ([r0, r1, *down], [r1, *down, r0]):
        st = one(events, "2026-06-01T00:00:00Z", "contract_month", month="2026-03")
        assert st["contract_revision"] == 1
        assert st["credit_amount"] == "30.00"


def _reclassified(recorded: str) -> list[JSON]:
    outage = probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False)
    first = incident(
        "INC-1",
        ["api"],
        "2026-03-10T00:00:00Z",
        "2026-03-10T00:50:00Z",
        recorded_at="2026-03-10T01:00:00Z",
    )
    later = incident(
        "INC-1",
        ["api"],
        "2026-03-10T00:00:00Z",
        "2026-03-10T00:50:00Z",
        cause="aws",
        revision=1,
        recorded_at=recorded,
    )
    return [contract(), *outage, first, later]


def test_provisional_until_72_hours_after_the_month() -> None:
    events = _reclassified("2026-05-01T00:00:00Z")
    st = one(events, "2026-04-03T23:59:59Z", "contract_month", month="2026-03")
    assert (st["status"], st["revision"]) == ("provisional", 0)
    assert st["finalizes_at"] == "2026-04-04T00:00:00Z"
    st = one(events, "2026-04-04T00:00:00Z", "contract_month", month="2026-03")
    assert (st["status"], st["revision"]) == ("final", 0)
    assert st["credit_amount"] == "100.00"


def test_reclassification_after_finality_gives_a_revised_statement() -> None:
    events = _reclassified("2026-05-01T00:00:00Z")
    before = one(events, "2026-04-30T00:00:00Z", "contract_month", month="2026-03")
    after = one(events, "2026-05-02T00:00:00Z", "contract_month", month="2026-03")
    assert (before["status"], before["revision"], before["credit_amount"]) == ("final", 0, "100.00")
    assert (after["status"], after["revision"], after["credit_amount"]) == ("revised", 1, "0.00")
    assert after["excluded_minutes"]["aws"] == 50


def test_reclassification_before_finality_is_no_revision() -> None:
    events = _reclassified("2026-04-02T00:00:00Z")
    st = one(events, "2026-05-02T00:00:00Z", "contract_month", month="2026-03")
    assert (st["status"], st["revision"], st["credit_amount"]) == ("final", 0, "0.00")


def test_readings_show_what_each_alternative_would_pay() -> None:
    events = [
        contract(services={"api": "1000.00", "web": "1000.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False),
        incident(
            "INC-FM", ["web"], "2026-03-11T00:00:00Z", "2026-03-11T08:00:00Z", cause="force_majeure"
        ),
    ]
    st = one(events, "2026-06-01T00:00:00Z", "contract_month", month="2026-03")
    assert st["credit_amount"] == "100.00"
    readings = {r["reading"]: r for r in st["readings"]}
    assert set(readings) == {
        "timezone_Europe/London",
        "credit_basis_per_service",
        "force_majeure_counted",
        "no_data_down",
    }
    fm = readings["force_majeure_counted"]
    # 50 + 480 counted minutes: below 99 %, 30 % of both services
    assert (fm["credit_amount"], fm["difference"], fm["differs"]) == ("600.00", "500.00", True)
    assert readings["credit_basis_per_service"]["credit_amount"] == "100.00"
    assert readings["credit_basis_per_service"]["differs"] is False
    # with no_data counted as down almost every minute is down
    assert readings["no_data_down"]["credit_percent"] == "30"


def test_a_silent_contract_is_stated_from_effective_from() -> None:
    """Silence is no-data minutes (SPEC section 3): down under no_data_policy down."""
    c = contract(
        "PO-SILENT",
        services={"api": "1000.00"},
        effective_from="2026-03-11T00:00:00Z",
        no_data_policy="down",
    )
    st = one([c], "2026-03-12T00:00:00Z", "contract_month", contract_id="PO-SILENT")
    assert st["month"] == "2026-03"
    # 21 days in force; one day of it elapsed, all of it without data, so down
    assert st["minutes_in_month"] == 21 * 1440
    assert st["counted_downtime_minutes"] == 1440
    assert st["no_data_minutes"] == 0
    assert st["meets_target"] is False
    up = contract("PO-QUIET", services={"api": "10.00"}, effective_from="2026-03-11T00:00:00Z")
    st = one([up], "2026-03-12T00:00:00Z", "contract_month", contract_id="PO-QUIET")
    assert (st["no_data_minutes"], st["counted_downtime_minutes"]) == (1440, 0)
    # not in force yet: nothing to state
    later = contract("PO-LATER", services={"api": "10.00"}, effective_from="2026-04-01T00:00:00Z")
    assert outputs([later], "2026-03-12T00:00:00Z", "contract_month") == []
