"""Coverage, the month's progress and the credit's working, in statements and reports.

One hand-computed month: contract PO-1 (UTC) over api (1,250.00) and web
(500.00) for March 2026. api has probes for its first 1,000 minutes and
web for its first 600, so only 600 minutes have data from both; api has a
52-minute internal outage (counted) and a 30-minute AWS outage INC-7
(excluded). Two claims: one filed in time (the outage accepted, the AWS
interval rejected because it is excluded) and one 61 days after the outage.
"""

from __future__ import annotations

import json
from decimal import Decimal

from reports.explain import ReportSettings, report_settings
from reports.month import render_report
from sla.model import JSON
from tests.helpers import claim, contract, incident, probes_every_minute, run

OUTAGE = ("2026-03-01T02:00:00Z", "2026-03-01T02:52:00Z")
AWS = ("2026-03-01T05:00:00Z", "2026-03-01T05:30:00Z")


def month_events() -> list[JSON]:
    return [
        contract(
            "PO-1",
            services={"api": "1250.00", "web": "500.00"},
            effective_from="2026-03-01T00:00:00Z",
            effective_to="2026-04-01T00:00:00Z",  # one month: April would be all silence
        ),
        *probes_every_minute("api", "2026-03-01T00:00:00Z", 1000),
        *probes_every_minute("web", "2026-03-01T00:00:00Z", 600),
        incident("INC-1", ["api"], *OUTAGE, title="API 503s"),
        incident("INC-7", ["api"], *AWS, cause="aws", title="AWS host failure"),
        claim("CLM-1", "PO-1", "2026-03-10T00:00:00Z", [OUTAGE, AWS]),
        claim("CLM-2", "PO-1", "2026-05-01T02:52:00Z", [OUTAGE]),
    ]


def _month(as_of: str) -> tuple[JSON, list[JSON]]:
    outs = run(month_events(), as_of).outputs
    (st,) = [o for o in outs if o["kind"] == "contract_month" and o["month"] == "2026-03"]
    return st, [o for o in outs if o["kind"] == "claim_decision"]


def test_a_month_in_progress_states_elapsed_remaining_and_coverage() -> None:
    st, _ = _month("2026-03-02T00:00:00Z")
    assert (st["elapsed_minutes"], st["remaining_minutes"]) == (1440, 44640 - 1440)
    # a minute has data when every service has: web's 600 minutes
    assert st["data_minutes"] == 600
    assert st["coverage_percent"] == "41.6666"  # 600 / 1440, floored
    assert st["services"]["api"]["coverage_percent"] == "69.4444"  # 1000 / 1440
    assert st["services"]["web"]["coverage_percent"] == "41.6666"
    assert st["services"]["web"]["no_data_periods"] == [
        ["2026-03-01T10:00:00Z", "2026-03-02T00:00:00Z"]
    ]
    report = render_report(st, [], "table")
    assert "Month in progress: 1,440 of 44,640 minutes elapsed, 43,200 still to come" in report
    assert "Low monitoring coverage: 41.6666 %" in report
    assert "target met so far: no" in report  # 52 counted minutes: over the 44-minute budget


def test_a_final_month_explains_its_credit_step_by_step() -> None:
    st, claims = _month("2026-05-10T00:00:00Z")
    assert (st["elapsed_minutes"], st["remaining_minutes"], st["data_minutes"]) == (44640, 0, 600)
    assert st["coverage_percent"] == "1.3440"  # 600 / 44,640 = 1.34408...
    data = json.loads(render_report(st, claims, "json"))
    assert [b["kind"] for b in data["progress"]["banners"]] == ["low_coverage"]
    working = "\n".join(data["working"])
    assert "(44,640 - 52) / 44,640 = 99.8835 %" in working
    assert "below 99.9 %: 10 % credit" in working
    assert "api: 10 % x 1,250.00 = 125.00 GBP" in working
    assert "web: no counted downtime, no credit" in working
    assert "Total credit = 125.00 GBP" in working
    tiers = {t["uptime"]: t["applies"] for t in data["credit_tiers"]}
    assert tiers == {">= 99.9 %": False, "99 % to < 99.9 %": True, "< 99 %": False}
    assert {c["service"]: c["monthly_charge"] for c in data["charges"]} == {
        "api": "1250.00",
        "web": "500.00",
    }


def test_each_claimed_interval_has_its_own_reason_in_words() -> None:
    st, claims = _month("2026-05-10T00:00:00Z")
    data = json.loads(render_report(st, claims, "json"))
    words = {(r["claim_id"], r["start"]): r["explanation"] for r in data["claim_intervals"]}
    assert words[("CLM-1", OUTAGE[0])] == "accepted: 52 counted minutes"
    assert words[("CLM-1", AWS[0])] == "excluded: AWS host downtime, INC-7"
    assert words[("CLM-2", OUTAGE[0])].startswith(
        "claimed 61 days after the incident ended; the SLA allows 60 days"
    )
    decided = {c["claim_id"]: c["explanation"] for c in data["claims"]}
    notes = {i["incident_id"]: i for i in data["incidents"]}
    assert notes["INC-7"]["title"] == "AWS host failure"
    assert notes["INC-7"]["cause"] == "AWS host downtime"
    assert notes["INC-1"]["start"] == "2026-03-01 02:00:00 UTC (UTC+0000)"
    assert [p["titles"] for p in data["periods"]] == ["API 503s", "AWS host failure"]
    assert decided["CLM-1"] == "accepted: 52 counted minutes, credit 125.00 GBP"
    assert decided["CLM-2"].startswith("rejected: no claimed interval was accepted")


def test_customers_get_no_readings_and_settings_name_the_vendor() -> None:
    st, claims = _month("2026-05-10T00:00:00Z")
    settings = ReportSettings("Example Ltd", "claims@example.com", Decimal("1"))
    internal = json.loads(render_report(st, claims, "json", "internal", settings))
    customer = json.loads(render_report(st, claims, "json", "customer", settings))
    assert internal["readings"][0]["reading"] == "contract"
    assert all(r["description"] for r in internal["readings"])
    assert "readings" not in customer
    assert customer["claim_evidence"]["email_to"] == "claims@example.com"
    assert customer["claim_evidence"]["vendor"] == "Example Ltd"
    # 1.3440 % is not below a 1 % threshold: no low-coverage banner
    assert customer["progress"]["banners"] == []
    html = render_report(st, claims, "html", "customer", settings)
    assert "Readings" not in html
    assert "claims@example.com" in html
    env = {"AVAILABILITY_CLAIM_EMAIL": "sla@example.org", "AVAILABILITY_LOW_COVERAGE": "99.5"}
    assert report_settings(env) == ReportSettings("LeadPro", "sla@example.org", Decimal("99.5"))


def test_the_timeline_never_draws_silence_or_the_future_as_up() -> None:
    st, _ = _month("2026-03-02T00:00:00Z")
    html = render_report(st, [], "html")
    svg = html[html.index("<svg") : html.index("</svg>")]
    # per lane: up over the elapsed minutes only, then grey no-data, then the hatch
    assert svg.count('fill="url(#future)"') == 2
    assert svg.count("<title>no data 2026-03-01T10:00:00Z - 2026-03-02T00:00:00Z</title>") == 1
    assert svg.count("<title>no data 2026-03-01T16:40:00Z - 2026-03-02T00:00:00Z</title>") == 1
    up = [p for p in svg.split("<rect")[1:] if 'fill="#34a853" opacity="0.35"' in p]
    assert len(up) == 2
    # the elapsed day is 1/31 of the 980-pixel lane: 31.6 pixels, never the whole lane
    assert all('width="31.6"' in p for p in up)


def _ticket(kind: str, tid: str, at: str, **fields: str) -> JSON:
    stamp = {"ticket_opened": "opened_at", "ticket_responded": "responded_at"}[kind]
    return {"type": kind, "event_id": f"{kind}-{tid}", "ticket_id": tid, stamp: at, **fields}


def test_support_compliance_per_client_and_month_with_the_breaches() -> None:
    tickets = [
        # Monday 2 March 2026, 10:00 London (GMT): high has 2 wall-clock hours
        _ticket("ticket_opened", "T-1", "2026-03-02T10:00:00Z", client_id="client-1",
                severity="high", channel="phone"),
        _ticket("ticket_responded", "T-1", "2026-03-02T13:00:00Z"),
        # medium: 3 business hours, answered after 90 business minutes
        _ticket("ticket_opened", "T-2", "2026-03-02T10:00:00Z", client_id="client-1",
                severity="medium", channel="email"),
        _ticket("ticket_responded", "T-2", "2026-03-02T11:30:00Z"),
    ]  # fmt: skip
    outs = run([*month_events(), *tickets], "2026-05-10T00:00:00Z").outputs
    (st,) = [o for o in outs if o["kind"] == "contract_month"]
    records = [o for o in outs if o["kind"] == "support_month"]
    verdicts = [o for o in outs if o["kind"] == "ticket_verdict"]
    data = json.loads(render_report(st, [], "json", support=(records, verdicts)))
    sp = data["support"]
    assert "Mon-Fri 09:00-17:30 Europe/London" in sp["calendar"]
    assert sp["calendar"].endswith("severity changed before the first response: retroactive")
    rows = {r["severity"]: r for r in sp["months"]}
    assert (rows["high"]["met"], rows["high"]["breached"]) == (0, 1)
    assert (rows["medium"]["met"], rows["medium"]["p50_business_minutes"]) == (1, "90.00")
    assert [(b["ticket_id"], b["deadline"]) for b in sp["breached"]] == [
        ("T-1", "2026-03-02T12:00:00Z")
    ]
    html = render_report(st, [], "html", support=(records, verdicts))
    assert "Support: first-response compliance" in html
    assert "T-1" in html
