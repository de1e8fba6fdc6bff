"""The monthly SLA report as plain data: :func:`report_data` and its sections.

Each section is a list of flat rows (or, for the claim evidence pack, one
record) that :mod:`reports.month_tables`, :mod:`reports.html` and the JSON
formats of :func:`reports.month.render_report` show as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reports import claim_words, explain
from reports.explain import ReportSettings
from reports.support import support_section
from sla.book import Settings
from sla.model import JSON
from sla.timeutil import parse_instant

CLAIM_SUBJECT = "SLA Credit Request"
#: 86,400 minutes after the rounded end (SPEC section 7): the rules' own window
CLAIM_WINDOW = Settings().claim_window


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _periods(statement: JSON) -> list[JSON]:
    """Counted incidents and excluded periods, by start, as flat report rows."""
    tz = ZoneInfo(statement.get("timezone") or "UTC")
    titles = {i["incident_id"]: i.get("title") or "" for i in statement.get("incidents") or []}
    rows: list[JSON] = []
    for kind, items in (
        ("counted", statement.get("downtime_incidents") or []),
        ("excluded", statement.get("excluded_periods") or []),
    ):
        for it in items:
            start, end = parse_instant(it["start"]), parse_instant(it["end"])
            local_s, local_e = start.astimezone(tz), end.astimezone(tz)
            rows.append(
                {
                    "service": it["service"],
                    "date": local_s.strftime("%Y-%m-%d"),
                    "start": local_s.strftime("%H:%M"),
                    "end": local_e.strftime("%H:%M")
                    if local_e.date() == local_s.date()
                    else local_e.strftime("%Y-%m-%d %H:%M"),
                    "start_utc": _utc(start),
                    "end_utc": _utc(end),
                    "duration_minutes": int(it["duration_minutes"]),
                    "causes": ", ".join(it.get("causes") or []) or "-",
                    "incident_ids": ", ".join(it.get("incident_ids") or []) or "-",
                    "titles": "; ".join(
                        t for t in (titles.get(i) for i in it.get("incident_ids") or []) if t
                    )
                    or "-",
                    "treatment": "counted"
                    if kind == "counted"
                    else f"excluded ({it.get('excluded_cause', '')})",
                }
            )
    rows.sort(key=lambda r: (r["start_utc"], r["service"], r["treatment"]))
    return rows


def _incidents(statement: JSON) -> list[JSON]:
    """The incidents behind the periods, with local times that name their timezone."""
    tz = ZoneInfo(statement.get("timezone") or "UTC")

    def local(text: str | None) -> str:
        if text is None:
            return "open"
        return parse_instant(text).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)")

    return [
        {
            "incident_id": i["incident_id"],
            "title": i.get("title") or "-",
            "cause": explain.CAUSE_WORDS.get(i["cause"], i["cause"]),
            "impact": i["impact"],
            "status": i["status"],
            "start": local(i["started_at"]),
            "end": local(i.get("ended_at")),
            "started_at": i["started_at"],
            "ended_at": i.get("ended_at"),
        }
        for i in statement.get("incidents") or []
    ]


def _readings(statement: JSON) -> list[JSON]:
    own = {
        "reading": "contract",
        "description": "the contract's own terms, as billed",
        "uptime_percent": statement["uptime_percent"],
        "counted_downtime_minutes": statement["counted_downtime_minutes"],
        "credit_percent": statement["credit_percent"],
        "credit_amount": statement["credit_amount"],
        "difference": "0.00",
    }
    others = [{k: r[k] for k in own} for r in statement.get("readings") or [] if r.get("differs")]
    return [own, *others]


def _evidence(statement: JSON, settings: ReportSettings) -> JSON:
    """The claim evidence pack: what a client emails to claim the month's credit."""
    incidents = []
    for p in _periods(statement):
        if p["treatment"] != "counted":
            continue
        deadline = parse_instant(p["end_utc"]) + CLAIM_WINDOW
        incidents.append(
            {
                "service": p["service"],
                "date": p["date"],
                "start": p["start"],
                "end": p["end"],
                "start_utc": p["start_utc"],
                "end_utc": p["end_utc"],
                "duration_minutes": p["duration_minutes"],
                "claim_deadline_utc": _utc(deadline),
            }
        )
    return {
        "vendor": settings.vendor_name,
        "email_to": settings.claim_email,
        "subject": CLAIM_SUBJECT,
        "contract_id": statement["contract_id"],
        "client_id": statement["client_id"],
        "month": statement["month"],
        "timezone": statement.get("timezone", "UTC"),
        "incidents": incidents,
        "earliest_deadline_utc": min((i["claim_deadline_utc"] for i in incidents), default=None),
    }


def _claims(claims: Sequence[JSON], statement: JSON) -> list[JSON]:
    return [
        {
            "claim_id": c["claim_id"],
            "submitted_at": c.get("submitted_at", ""),
            "decision": c["decision"],
            "reason": c.get("reason") or "-",
            "minutes_accepted": c.get("minutes_accepted", 0),
            "credit_total": c.get("credit_total") or "-",
            "currency": c.get("currency") or "",
            "explanation": claim_words.claim_words(c, statement),
        }
        for c in claims
    ]


_HEADLINE = (
    "contract_id",
    "client_id",
    "month",
    "timezone",
    "status",
    "revision",
    "minutes_in_month",
    "down_minutes",
    "counted_downtime_minutes",
    "no_data_minutes",
    "elapsed_minutes",
    "remaining_minutes",
    "data_minutes",
    "coverage_percent",
    "uptime_percent",
    "uptime_target",
    "meets_target",
    "credit_basis",
    "credit_percent",
    "credit_amount",
    "currency",
    "computed_at",
)


def report_data(
    statement: JSON,
    claims: Sequence[JSON],
    audience: str = "internal",
    settings: ReportSettings | None = None,
    support: tuple[Sequence[JSON], Sequence[JSON]] | None = None,
) -> JSON:
    """The report as plain data (the ``json`` format), every section keyed.

    ``audience`` ``customer`` leaves the readings (an internal tool for
    disputes) out; ``internal`` keeps them, each with its explanation.
    ``support`` is the client's ``support_month`` records and ticket
    verdicts of the month (None: not available, e.g. from a worker's API).
    """
    settings = settings or ReportSettings()
    headline = {k: statement.get(k) for k in _HEADLINE}
    headline["excluded_minutes"] = dict(statement.get("excluded_minutes") or {})
    headline["affected_services"] = list(statement.get("affected_services") or [])
    data = {
        "audience": audience,
        "statement": headline,
        "progress": explain.progress(statement, settings),
        "services": statement.get("services") or {},
        "charges": explain.charges(statement),
        "credit_tiers": explain.tier_table(statement),
        "working": explain.working(statement),
        "periods": _periods(statement),
        "incidents": _incidents(statement),
        "claim_evidence": _evidence(statement, settings),
        "claims": _claims(claims, statement),
        "claim_intervals": claim_words.claim_intervals(claims, statement),
    }
    if audience == "internal":
        data["readings"] = _readings(statement)
    if support is not None:
        data["support"] = support_section(*support)
    return data
