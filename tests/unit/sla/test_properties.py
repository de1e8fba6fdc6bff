"""Laws of the fold (hypothesis): order, duplicates, exclusions, partitions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import dumps
from sla.model import JSON
from tests.helpers import contract, incident, probe, run

AS_OF = "2026-05-01T00:00:00Z"
SERVICES = ("api", "web")
REGIONS = ("eu", "us", "ap")


def _at(minute: int, second: int) -> str:
    day, rest = divmod(minute, 1440)
    return f"2026-03-{day + 1:02d}T{rest // 60:02d}:{rest % 60:02d}:{second:02d}Z"


probes = st.builds(
    lambda s, r, m, sec, ok, n: probe(s, r, _at(m, sec), ok, event_id=f"p{n}"),
    st.sampled_from(SERVICES),
    st.sampled_from(REGIONS),
    st.integers(0, 90),
    st.integers(0, 59),
    st.booleans(),
    st.integers(0, 10**6),
)

incidents = st.builds(
    lambda iid, svcs, start, dur, cause, impact, rev, status, n: incident(
        f"INC-{iid}",
        sorted(svcs),
        _at(start, 0),
        _at(start + dur, 40),
        cause=cause,
        impact=impact,
        revision=rev,
        status=status,
        event_id=f"i{n}",
        recorded_at=_at(start + dur + 1, 0),
    ),
    st.integers(0, 3),
    st.sets(st.sampled_from(SERVICES), min_size=1),
    st.integers(0, 80),
    st.integers(0, 20),
    st.sampled_from(["internal", "aws", "force_majeure", "third_party", "maintenance"]),
    st.sampled_from(["outage", "degraded", "none"]),
    st.integers(0, 2),
    st.sampled_from(["open", "resolved", "retracted"]),
    st.integers(0, 10**6),
)

contracts = st.builds(
    lambda basis, tz, nd: contract(
        services={"api": "1000.00", "web": "333.33"},
        credit_basis=basis,
        timezone=tz,
        no_data_policy=nd,
    ),
    st.sampled_from(["platform", "per_service"]),
    st.sampled_from(["UTC", "Europe/London", "America/New_York"]),
    st.sampled_from(["up", "down"]),
)


def _canonical(events: list[JSON]) -> list[str]:
    return [dumps(o) for o in run(events, AS_OF).outputs]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    c=contracts,
    evs=st.lists(st.one_of(probes, probes, incidents), min_size=1, max_size=40),
    data=st.data(),
)
def test_any_permutation_and_duplication_gives_identical_output(
    c: JSON, evs: list[JSON], data: st.DataObject
) -> None:
    events = [c, *evs]
    shuffled = data.draw(st.permutations(events))
    dups = data.draw(st.lists(st.sampled_from(events), max_size=10))
    assert _canonical(events) == _canonical([*shuffled, *dups])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    c=contracts,
    evs=st.lists(st.one_of(probes, incidents), min_size=1, max_size=30),
    start=st.integers(0, 80),
    dur=st.integers(1, 30),
    cause=st.sampled_from(["aws", "force_majeure"]),
)
def test_adding_an_excluded_incident_never_lowers_uptime(
    c: JSON, evs: list[JSON], start: int, dur: int, cause: str
) -> None:
    extra = incident(
        "INC-EXTRA",
        list(SERVICES),
        _at(start, 0),
        _at(start + dur, 0),
        cause=cause,
        impact="none",
        event_id="extra",
    )
    before = {
        (o["kind"], o.get("month"), o.get("service")): o for o in run([c, *evs], AS_OF).outputs
    }
    after = run([c, *evs, extra], AS_OF).outputs
    for o in after:
        key = (o["kind"], o.get("month"), o.get("service"))
        if o["kind"] in ("contract_month", "service_month") and key in before:
            assert Decimal(o["uptime_percent"]) >= Decimal(before[key]["uptime_percent"])
            assert o["counted_downtime_minutes"] <= before[key]["counted_downtime_minutes"]


def _partition(o: dict[str, Any]) -> None:
    m = o["minutes_in_month"]
    if o["kind"] == "service_month":
        assert o["up_minutes"] + o["down_minutes"] + o["no_data_minutes"] == m
        assert o["down_minutes"] == o["counted_downtime_minutes"] + sum(
            o["excluded_minutes"].values()
        )
        counted = sum(_span(a, b) for a, b in o["intervals"]["counted"])
        assert counted == o["counted_downtime_minutes"]
    else:
        assert (
            o["up_minutes"]
            + o["counted_downtime_minutes"]
            + sum(o["excluded_minutes"].values())
            + o["no_data_minutes"]
        ) == m
        for s in o["services"].values():
            if o["no_data_policy"] == "up":
                assert s["up_minutes"] + s["down_minutes"] + s["no_data_minutes"] == m
            else:  # minutes without data are down minutes too
                assert s["up_minutes"] + s["down_minutes"] == m


def _span(a: str, b: str) -> int:
    from sla.timeutil import epoch_minute, parse_instant

    return epoch_minute(parse_instant(b)) - epoch_minute(parse_instant(a))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=contracts, evs=st.lists(st.one_of(probes, incidents), min_size=1, max_size=40))
def test_minutes_partition_the_month(c: JSON, evs: list[JSON]) -> None:
    for o in run([c, *evs], AS_OF).outputs:
        if o["kind"] in ("contract_month", "service_month"):
            _partition(o)
