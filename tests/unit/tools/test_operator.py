"""Incident revisions and claims built by the operator commands (pure; no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from schemas.codec import decode
from schemas.events import ClaimEvent, IncidentEvent
from tests.helpers import contract, incident, one, probes_every_minute
from tools import operator
from tools.produce import encode_event

T0 = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 4, 20, 9, 30, tzinfo=UTC)


def _history(*events: dict[str, object]) -> list[IncidentEvent]:
    return operator.incident_history((encode_event(e) for e in events), "INC-1")


def _decl(**kw: object) -> dict[str, object]:
    args: dict[str, object] = {
        "services": ["api"],
        "started_at": T0,
        "recorded_at": datetime(2026, 3, 10, 0, 5, tzinfo=UTC),
        "title": "API returning 503s",
    }
    args.update(kw)
    return operator.declare([], "INC-1", **args)  # type: ignore[arg-type]


def test_declare_gives_revision_0_open_and_valid() -> None:
    ev = _decl()
    assert isinstance(decode(encode_event(ev)), IncidentEvent)
    assert (ev["revision"], ev["status"], ev["ended_at"], ev["cause"], ev["impact"]) == (
        0,
        "open",
        None,
        "internal",
        "outage",
    )
    assert ev["recorded_at"] == "2026-03-10T00:05:00Z"
    assert str(ev["event_id"]).startswith("INC-1-r0-")
    closed = _decl(ended_at=datetime(2026, 3, 10, 0, 50, tzinfo=UTC))
    assert closed["status"] == "resolved"


def test_declaring_an_existing_incident_is_refused() -> None:
    with pytest.raises(operator.OperatorError, match="already exists"):
        operator.declare(_history(_decl()), "INC-1", ["api"], T0, T0)


def test_revisions_count_up_from_the_latest_whatever_the_order_read() -> None:
    r0 = _decl()
    r1 = operator.revise(
        _history(r0), "INC-1", T0, ended_at=datetime(2026, 3, 10, 0, 50, tzinfo=UTC)
    )
    r2 = operator.reclassify(_history(r1, r0), "INC-1", "aws", LATER)
    assert (r1["revision"], r1["status"], r1["ended_at"]) == (1, "resolved", "2026-03-10T00:50:00Z")
    # the reclassification keeps every other field of revision 1
    assert r2["revision"] == 2
    assert r2["cause"] == "aws"
    assert r2["recorded_at"] == "2026-04-20T09:30:00Z"
    same = ("services", "started_at", "ended_at", "impact", "status", "title", "incident_id")
    assert {k: r2[k] for k in same} == {k: r1[k] for k in same}
    r3 = operator.retract(_history(r2, r0, r1, r0), "INC-1", LATER)
    assert (r3["revision"], r3["status"], r3["cause"]) == (3, "retracted", "aws")
    assert len({r0["event_id"], r1["event_id"], r2["event_id"], r3["event_id"]}) == 4
    assert operator.next_revision(_history(r3, r1)) == 4
    assert operator.next_revision([]) == 0


def test_latest_breaks_equal_revisions_by_event_id_bytes() -> None:
    a = incident("INC-1", ["api"], "2026-03-10T00:00:00Z", None, event_id="a", title="first")
    b = incident("INC-1", ["api"], "2026-03-10T00:00:00Z", None, event_id="b", title="second")
    top = operator.latest(_history(b, a))
    assert top is not None
    assert top.title == "second"
    assert operator.revise(_history(a, b), "INC-1", T0)["title"] == "second"


def test_history_skips_other_incidents_and_bad_bytes() -> None:
    other = incident("INC-2", ["api"], "2026-03-10T00:00:00Z", None, event_id="x")
    mine = incident("INC-1", ["api"], "2026-03-10T00:00:00Z", None, event_id="y")
    values = [encode_event(other), b"{not json", b'{"type":"probe"}', encode_event(mine)]
    assert [e.event_id for e in operator.incident_history(values, "INC-1")] == ["y"]


def test_update_reopens_and_changes_only_what_is_given() -> None:
    r1 = operator.revise(
        _history(_decl()), "INC-1", T0, ended_at=datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    )
    r2 = operator.revise(
        _history(r1), "INC-1", T0, ended_at=None, services=["api", "web"], impact="degraded"
    )
    assert (r2["ended_at"], r2["status"], r2["services"], r2["impact"], r2["cause"]) == (
        None,
        "open",
        ["api", "web"],
        "degraded",
        "internal",
    )


def test_changes_the_wire_model_rejects_are_refused() -> None:
    r0 = _decl()
    with pytest.raises(operator.OperatorError, match="ended_at is before started_at"):
        operator.revise(_history(r0), "INC-1", T0, ended_at=datetime(2026, 3, 9, tzinfo=UTC))
    with pytest.raises(operator.OperatorError, match="unknown_enum"):
        operator.reclassify(_history(r0), "INC-1", "gremlins", T0)
    with pytest.raises(operator.OperatorError, match="declare it first"):
        operator.retract([], "INC-9", T0)


def test_a_reclassification_after_the_month_is_final_revises_the_statement() -> None:
    """The revisions the commands build do what SPEC section 6 says, through the real fold."""
    r0 = _decl(ended_at=datetime(2026, 3, 10, 0, 50, tzinfo=UTC))
    r1 = operator.reclassify(_history(r0), "INC-1", "aws", LATER)
    base = [
        contract("PO-9", services={"api": "1000.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False),
    ]

    as_of = "2026-05-01T00:00:00Z"
    before = one([*base, r0], as_of, "contract_month", month="2026-03")
    after = one([*base, r0, r1], as_of, "contract_month", month="2026-03")
    assert (before["counted_downtime_minutes"], before["credit_amount"]) == (50, "100.00")
    assert (after["counted_downtime_minutes"], after["credit_amount"]) == (0, "0.00")
    assert after["excluded_minutes"]["aws"] == 50
    assert (before["status"], before["revision"]) == ("final", 0)
    assert (after["status"], after["revision"]) == ("revised", 1)


def test_a_claim_is_recorded_as_it_arrived() -> None:
    intervals = [
        operator.parse_interval("2026-03-10T00:00:00Z/2026-03-10T00:50:00Z"),
        operator.parse_interval(" 2026-03-11T01:00:00+01:00 / 2026-03-11T01:30:00+01:00 "),
    ]
    ev = operator.claim(
        "CLM-7",
        "PO-9",
        datetime(2026, 3, 12, 8, 0, tzinfo=UTC),
        "sla credit request ",
        intervals,
        contact="ops@example.com",
    )
    decoded = decode(json.dumps(ev).encode())
    assert isinstance(decoded, ClaimEvent)
    assert ev["incidents"] == [
        {"start": "2026-03-10T00:00:00Z", "end": "2026-03-10T00:50:00Z"},
        {"start": "2026-03-11T01:00:00+01:00", "end": "2026-03-11T01:30:00+01:00"},
    ]
    assert ev["subject"] == "sla credit request "
    assert ev["event_id"] == "claim:CLM-7"  # recording the same email twice counts once
    assert operator.new_claim_id(datetime(2026, 3, 12, tzinfo=UTC)).startswith("CLM-20260312-")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-03-10T00:00:00Z", "START/END"),
        ("2026-03-10T00:00:00/2026-03-10T00:50:00Z", "not an RFC 3339"),
    ],
)
def test_bad_claim_intervals(text: str, message: str) -> None:
    with pytest.raises(operator.OperatorError, match=message):
        operator.parse_interval(text)


def test_a_claimed_interval_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(operator.OperatorError, match="ends before it starts"):
        operator.claim(
            "CLM-8",
            "PO-9",
            T0,
            "SLA Credit Request",
            [("2026-03-10T01:00:00Z", "2026-03-10T00:00:00Z")],
        )
