"""SPEC section 7: claim adjudication."""

from __future__ import annotations

from sla.model import JSON
from tests.helpers import claim, contract, incident, one, probes_every_minute

AS_OF = "2026-06-30T00:00:00Z"
BASE: list[JSON] = [
    contract("PO-1", services={"api": "1000.00", "web": "500.00"}),
    # 30 counted minutes on 5 March, 20 on 20 March (web), an AWS hour on 25 March
    *probes_every_minute("api", "2026-03-05T10:00:00Z", 30, ok=False),
    *probes_every_minute("web", "2026-03-20T08:00:00Z", 20, ok=False),
    *probes_every_minute("api", "2026-03-25T00:00:00Z", 60, ok=False),
    incident("INC-AWS", ["api"], "2026-03-25T00:00:00Z", "2026-03-25T01:00:00Z", cause="aws"),
]


def _decision(c: JSON) -> JSON:
    return one([*BASE, c], AS_OF, "claim_decision", claim_id=c["claim_id"])


def test_unknown_contract_is_rejected() -> None:
    d = _decision(
        claim(
            "C-1",
            "PO-404",
            "2026-04-01T00:00:00Z",
            [("2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z")],
        )
    )
    assert (d["decision"], d["reason"]) == ("rejected", "unknown_contract")


def test_bad_subject_is_rejected_but_case_and_spaces_are_ignored() -> None:
    bad = _decision(
        claim(
            "C-2",
            "PO-1",
            "2026-04-01T00:00:00Z",
            [("2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z")],
            subject="Credit please",
        )
    )
    assert (bad["decision"], bad["reason"]) == ("rejected", "bad_subject")
    ok = _decision(
        claim(
            "C-3",
            "PO-1",
            "2026-04-01T00:00:00Z",
            [("2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z")],
            subject="  sla CREDIT request ",
        )
    )
    assert ok["decision"] == "accepted"


def test_out_of_window_interval() -> None:
    # rounded end 2026-03-05T10:30Z; 60 days later is 2026-05-04T10:30Z
    within = _decision(
        claim(
            "C-4",
            "PO-1",
            "2026-05-04T10:30:00Z",
            [("2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z")],
        )
    )
    assert within["intervals"][0]["verdict"] == "accepted"
    late = _decision(
        claim(
            "C-5",
            "PO-1",
            "2026-05-04T10:30:01Z",
            [("2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z")],
        )
    )
    assert late["intervals"][0]["reason"] == "out_of_window"
    assert (late["decision"], late["reason"]) == ("rejected", "no_accepted_interval")


def test_partly_matching_claim_credits_only_accepted_counted_minutes() -> None:
    d = _decision(
        claim(
            "C-6",
            "PO-1",
            "2026-04-10T00:00:00Z",
            [
                ("2026-03-05T10:15:20Z", "2026-03-05T12:00:00Z"),  # 15 of the 30 api minutes
                ("2026-03-12T00:00:00Z", "2026-03-12T01:00:00Z"),  # nothing was down
                ("2026-03-25T00:00:00Z", "2026-03-25T01:00:00Z"),  # AWS: excluded, not counted
            ],
        )
    )
    verdicts = [(i["verdict"], i["reason"], i["minutes_accepted"]) for i in d["intervals"]]
    assert verdicts == [
        ("accepted", None, 15),
        ("rejected", "no_matching_downtime", 0),
        ("rejected", "no_matching_downtime", 0),
    ]
    assert d["decision"] == "accepted"
    assert d["minutes_accepted"] == 15
    # 15 minutes keep uptime above 99.9 %: accepted, but no credit is due
    assert d["credits"][0]["credit_percent"] == "0"
    assert d["credit_total"] == "0.00"


def test_claim_never_earns_more_than_the_statement() -> None:
    whole_month = claim(
        "C-7", "PO-1", "2026-04-10T00:00:00Z", [("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")]
    )
    d = _decision(whole_month)
    st = one([*BASE, whole_month], AS_OF, "contract_month", month="2026-03")
    assert st["counted_downtime_minutes"] == 50
    assert d["minutes_accepted"] == 50
    assert st["credit_amount"] == "150.00"  # 10 % of api + web
    assert d["credit_total"] == "150.00"
    # claiming only the web incident: the tier is decided by those minutes alone
    web_only = _decision(
        claim(
            "C-8",
            "PO-1",
            "2026-04-10T00:00:00Z",
            [("2026-03-20T08:00:00Z", "2026-03-20T08:20:00Z")],
        )
    )
    assert web_only["minutes_accepted"] == 20
    assert web_only["credit_total"] == "0.00"


def test_same_claim_replayed_gives_the_same_decision() -> None:
    c = claim(
        "C-9", "PO-1", "2026-04-10T00:00:00Z", [("2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z")]
    )
    first = _decision(c)
    again = one([*BASE, c, c, c], AS_OF, "claim_decision", claim_id="C-9")
    assert first == again
