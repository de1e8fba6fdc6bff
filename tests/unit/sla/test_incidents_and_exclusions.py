"""SPEC sections 2 and 4: incident upserts, exclusions and their precedence."""

from __future__ import annotations

from sla.model import JSON
from tests.helpers import contract, incident, one, probes_every_minute

AS_OF = "2026-06-01T00:00:00Z"


def _st(events: list[JSON]) -> JSON:
    return one(events, AS_OF, "contract_month", month="2026-03")


OUTAGE = probes_every_minute("api", "2026-03-05T10:00:00Z", 60, ok=False)


def test_aws_and_force_majeure_overlapping_one_outage() -> None:
    events = [
        contract(),
        *OUTAGE,
        # AWS covers 10:00-10:40, force majeure 10:30-10:50; 10:50-11:00 is counted
        incident(
            "INC-AWS",
            ["api"],
            "2026-03-05T10:00:00Z",
            "2026-03-05T10:40:00Z",
            cause="aws",
            impact="degraded",
        ),
        incident(
            "INC-FM",
            ["api"],
            "2026-03-05T10:30:00Z",
            "2026-03-05T10:50:00Z",
            cause="force_majeure",
            impact="none",
        ),
    ]
    st = _st(events)
    assert st["down_minutes"] == 60
    assert st["excluded_minutes"] == {"force_majeure": 20, "aws": 30}
    assert st["counted_downtime_minutes"] == 10
    [dt] = st["downtime_incidents"]
    assert (dt["start"], dt["end"], dt["duration_minutes"]) == (
        "2026-03-05T10:50:00Z",
        "2026-03-05T11:00:00Z",
        10,
    )
    periods = [(p["start"], p["end"], p["excluded_cause"]) for p in st["excluded_periods"]]
    assert periods == [
        ("2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z", "aws"),
        ("2026-03-05T10:30:00Z", "2026-03-05T10:50:00Z", "force_majeure"),
    ]


def test_reclassification_to_aws_arriving_before_the_original() -> None:
    original = incident(
        "INC-9",
        ["api"],
        "2026-03-05T10:00:00Z",
        "2026-03-05T11:00:00Z",
        cause="internal",
        revision=0,
    )
    reclassified = incident(
        "INC-9", ["api"], "2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z", cause="aws", revision=1
    )
    st = _st([contract(), *OUTAGE, reclassified, original])
    assert st["counted_downtime_minutes"] == 0
    assert st["excluded_minutes"]["aws"] == 60
    assert st["meets_target"] is True


def test_equal_revisions_break_ties_by_event_id() -> None:
    a = incident(
        "INC-7",
        ["api"],
        "2026-03-05T10:00:00Z",
        "2026-03-05T11:00:00Z",
        cause="internal",
        event_id="evt-a",
    )
    b = incident(
        "INC-7",
        ["api"],
        "2026-03-05T10:00:00Z",
        "2026-03-05T11:00:00Z",
        cause="aws",
        event_id="evt-b",
    )
    for order in ([a, b], [b, a]):
        st = _st([contract(), *OUTAGE, *order])
        assert st["excluded_minutes"]["aws"] == 60


def test_retracted_incident_covers_nothing() -> None:
    declared = incident("INC-5", ["api"], "2026-03-06T10:00:00Z", "2026-03-06T11:00:00Z")
    retracted = {**declared, "event_id": "retraction", "revision": 1, "status": "retracted"}
    assert _st([contract(), declared])["counted_downtime_minutes"] == 60
    assert _st([contract(), declared, retracted])["counted_downtime_minutes"] == 0


def test_excluded_incident_on_another_service_does_not_exclude() -> None:
    st = _st(
        [
            contract(),
            *OUTAGE,
            incident("INC-X", ["web"], "2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z", cause="aws"),
        ]
    )
    assert st["counted_downtime_minutes"] == 60


def test_incident_interval_rounds_to_the_nearest_minute() -> None:
    at_29 = incident("INC-R", ["api"], "2026-03-07T10:00:29Z", "2026-03-07T10:10:29Z")
    at_30 = incident("INC-R", ["api"], "2026-03-07T10:00:30Z", "2026-03-07T10:10:30Z")
    tiny = incident("INC-T", ["api"], "2026-03-07T12:00:10Z", "2026-03-07T12:00:20Z")
    s29 = _st([contract(), at_29])
    s30 = _st([contract(), at_30])
    assert s29["downtime_incidents"][0]["start"] == "2026-03-07T10:00:00Z"
    assert s29["downtime_incidents"][0]["end"] == "2026-03-07T10:10:00Z"
    assert s30["downtime_incidents"][0]["start"] == "2026-03-07T10:01:00Z"
    assert s30["downtime_incidents"][0]["end"] == "2026-03-07T10:11:00Z"
    assert _st([contract(), tiny])["counted_downtime_minutes"] == 0


def test_open_incident_runs_until_as_of() -> None:
    open_inc = incident("INC-O", ["api"], "2026-03-07T10:00:00Z", None)
    st = one([contract(), open_inc], "2026-03-07T10:20:10Z", "contract_month", month="2026-03")
    assert st["counted_downtime_minutes"] == 20
    assert st["status"] == "provisional"


def test_contract_may_exclude_other_causes() -> None:
    maint = incident(
        "INC-M", ["api"], "2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z", cause="maintenance"
    )
    default = _st([contract(), *OUTAGE, maint])
    assert default["counted_downtime_minutes"] == 60
    custom = _st(
        [contract(excluded_causes=["maintenance", "aws", "force_majeure"]), *OUTAGE, maint]
    )
    assert custom["counted_downtime_minutes"] == 30
    assert custom["excluded_minutes"]["maintenance"] == 30


def test_declared_outages_can_be_switched_off() -> None:
    declared = incident("INC-D", ["api"], "2026-03-06T10:00:00Z", "2026-03-06T11:00:00Z")
    st = _st([contract(declared_outage_counts=False), declared])
    assert st["counted_downtime_minutes"] == 0


def test_no_data_policy_down() -> None:
    events = [
        contract(no_data_policy="down"),
        *probes_every_minute("api", "2026-03-01T00:00:00Z", 44_640 - 30, ok=True),
    ]
    st = _st(events)
    assert st["counted_downtime_minutes"] == 30
    assert st["no_data_minutes"] == 0
    assert st["services"]["api"]["no_data_minutes"] == 30
