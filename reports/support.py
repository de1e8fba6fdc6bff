"""First-response compliance as a reader sees it: per client and month, and the breaches.

Pure functions of ``support_month`` records and ``ticket_verdict`` records
(SPEC section 8), used by ``replay``'s table and by the monthly report. The
business calendar is described in words, with the severity-change policy
the verdicts name, so a reader knows what the percentiles are counted in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from reports.text import columns
from sla.business_clock import BusinessCalendar, ResponseTarget
from sla.model import JSON

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
MONTH_COLS = (
    "client_id",
    "month",
    "severity",
    "met",
    "breached",
    "open",
    "at_risk",
    "p50_business_minutes",
    "p90_business_minutes",
    "p95_business_minutes",
)
BREACH_COLS = ("ticket_id", "client_id", "severity", "opened_at", "deadline", "responded_at")


def _hours(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return f"{h} h" if not m else f"{h} h {m} min"


def _target(name: str, t: ResponseTarget) -> str:
    return f"{name} {_hours(t.duration)} ({'business hours' if t.business_hours else 'wall clock'})"


def describe_calendar(calendar: BusinessCalendar, policies: Iterable[str] = ()) -> str:
    """The business hours, holidays, targets and severity-change policy, in one sentence."""
    groups: list[tuple[list[str], str]] = []
    for day, spans in zip(_DAYS, calendar.hours, strict=False):
        if not spans:
            continue
        text = ", ".join(f"{a.strftime('%H:%M')}-{b.strftime('%H:%M')}" for a, b in spans)
        if groups and groups[-1][1] == text:
            groups[-1][0].append(day)
        else:
            groups.append(([day], text))
    hours = "; ".join(
        f"{days[0]}-{days[-1] if len(days) > 1 else ''}".rstrip("-") + f" {text}"
        for days, text in groups
    )
    holidays = (
        f"closed on the public holidays of {calendar.holiday_country}"
        + (f"-{calendar.holiday_subdiv}" if calendar.holiday_subdiv else "")
        if calendar.holiday_country
        else "no public holidays"
    )
    t = calendar.targets
    used = sorted(set(policies)) or [calendar.severity_change_policy]
    return (
        f"Business hours {hours} {calendar.timezone}, {holidays}; first-response targets "
        f"{_target('high', t.high)}, {_target('medium', t.medium)}, {_target('low', t.low)}; "
        f"severity changed before the first response: {', '.join(used)}"
    )


def month_rows(records: Iterable[JSON]) -> list[JSON]:
    """``support_month`` records as table rows, by client, month and severity (high first)."""
    rows = [
        {k: ("-" if r.get(k) is None else r.get(k)) for k in MONTH_COLS}
        for r in records
        if r.get("kind", "support_month") == "support_month"
    ]
    rows.sort(
        key=lambda r: (r["client_id"], r["month"], _SEVERITY_ORDER.get(str(r["severity"]), 9))
    )
    return rows


def breached_rows(verdicts: Iterable[JSON]) -> list[JSON]:
    """The breached tickets, by the instant they were opened."""
    rows = [
        {k: ("-" if v.get(k) is None else v.get(k)) for k in BREACH_COLS}
        for v in verdicts
        if v.get("status") == "breached"
    ]
    rows.sort(key=lambda r: (r["opened_at"], r["ticket_id"]))
    return rows


def support_section(
    records: Sequence[JSON], verdicts: Sequence[JSON], calendar: BusinessCalendar | None = None
) -> JSON:
    """The report's support section: the calendar in words, compliance rows, breaches."""
    policies = [str(v["policy"]) for v in verdicts if v.get("policy")]
    return {
        "calendar": describe_calendar(calendar or BusinessCalendar(), policies),
        "months": month_rows(records),
        "breached": breached_rows(verdicts),
    }


def support_table(outputs: Sequence[JSON]) -> list[str]:
    """Replay's support lines: compliance per client, month and severity, then breaches."""
    records = [o for o in outputs if o.get("kind") == "support_month"]
    if not records:
        return []
    verdicts = [o for o in outputs if o.get("kind") == "ticket_verdict"]
    section = support_section(records, verdicts)
    head = (
        "client",
        "month",
        "severity",
        "met",
        "breached",
        "open",
        "at risk",
        "p50",
        "p90",
        "p95",
    )
    lines = ["", "First-response compliance (business minutes)", section["calendar"]]
    lines += columns(head, ([r[c] for c in MONTH_COLS] for r in section["months"]))
    if section["breached"]:
        lines += ["", "Breached tickets"]
        cols = ("ticket", "client", "severity", "opened", "deadline", "responded")
        lines += columns(cols, ([r[c] for c in BREACH_COLS] for r in section["breached"]))
    return lines


__all__ = [
    "BREACH_COLS",
    "MONTH_COLS",
    "breached_rows",
    "describe_calendar",
    "month_rows",
    "support_section",
    "support_table",
]
