"""The monthly SLA report as a text table and as CSV, and the columns of each section."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from reports.support import BREACH_COLS, MONTH_COLS
from reports.text import columns
from sla.model import JSON


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return "\n".join(columns(headers, rows, rule=True))


_PERIOD_COLS = ("service", "date", "start", "end", "duration_minutes", "causes", "treatment")
#: the table and HTML name the incidents behind each period
_DOWNTIME_COLS = (*_PERIOD_COLS[:5], "incident_ids", "titles", *_PERIOD_COLS[5:])
_INCIDENT_COLS = ("incident_id", "title", "cause", "impact", "status", "start", "end")
_READING_COLS = (
    "reading",
    "uptime_percent",
    "counted_downtime_minutes",
    "credit_percent",
    "credit_amount",
    "difference",
    "description",
)
_CHARGE_COLS = (
    "service",
    "monthly_charge",
    "counted_downtime_minutes",
    "uptime_percent",
    "coverage_percent",
    "credit_percent",
    "credit_amount",
)
_TIER_COLS = ("uptime", "credit_percent", "applies")
_INTERVAL_COLS = ("claim_id", "start", "end", "verdict", "minutes_accepted", "explanation")
_EVIDENCE_COLS = (
    "service",
    "date",
    "start",
    "end",
    "start_utc",
    "end_utc",
    "claim_deadline_utc",
)
_CLAIM_COLS = (
    "claim_id",
    "submitted_at",
    "decision",
    "reason",
    "minutes_accepted",
    "credit_total",
    "explanation",
)


def _cell(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _rows(cols: Sequence[str], rows: Sequence[JSON]) -> list[list[Any]]:
    return [[_cell(r[c]) for c in cols] for r in rows]


def _headline(st: JSON, pg: JSON) -> str:
    """The statement's headline lines, the banners of a month in progress among them."""
    excl = ", ".join(f"{k} {v}" for k, v in st["excluded_minutes"].items()) or "none"
    so_far = " so far" if pg["in_progress"] else ""
    return "\n".join(
        [
            f"SLA statement {st['contract_id']} ({st['client_id']}) {st['month']} "
            f"[{st['timezone']}] {st['status']} revision {st['revision']}",
            *(f"!! {b['text']}" for b in pg["banners"]),
            f"Uptime {st['uptime_percent']} %  target met{so_far}: "
            f"{'yes' if st['meets_target'] else 'no'}",
            f"Coverage {pg['coverage_percent']} % ({pg['data_minutes']} of "
            f"{pg['elapsed_minutes']} elapsed minutes with data); "
            f"elapsed {pg['elapsed_minutes']}, remaining {pg['remaining_minutes']}",
            f"Credit {st['credit_percent']} % = {st['credit_amount']} {st['currency']} "
            f"(basis {st['credit_basis']}; services {', '.join(st['affected_services']) or '-'})",
            f"Minutes {st['minutes_in_month']}: counted down {st['counted_downtime_minutes']}, "
            f"excluded {excl}, no data {st['no_data_minutes']}",
        ]
    )


_SERVICE_HEADERS = ("service", "uptime", "counted", "excluded", "no_data", "credit_%", "credit")


def _services(services: JSON) -> str:
    rows = [
        (
            name,
            s.get("uptime_percent"),
            s.get("counted_downtime_minutes"),
            sum((s.get("excluded_minutes") or {}).values()),
            s.get("no_data_minutes"),
            s.get("credit_percent"),
            s.get("credit_amount"),
        )
        for name, s in services.items()
    ]
    return "Services\n" + _table(_SERVICE_HEADERS, rows)


def _section(title: str, cols: Sequence[str], rows: Sequence[JSON]) -> str:
    return f"{title}\n" + _table(cols, _rows(cols, rows))


def _support(sp: JSON) -> str:
    return (
        f"Support: first-response compliance (business minutes)\n{sp['calendar']}\n"
        + _table(MONTH_COLS, _rows(MONTH_COLS, sp["months"]))
        + "\n"
        + _section("Breached tickets", BREACH_COLS, sp["breached"])
    )


def _render_table(d: JSON) -> str:
    st, ev = d["statement"], d["claim_evidence"]
    parts = [
        _headline(st, d["progress"]),
        _services(d["services"]),
        _section("Charges", _CHARGE_COLS, d["charges"]),
        _section("Credit tiers", _TIER_COLS, d["credit_tiers"]),
        "Working\n" + "\n".join(d["working"]),
        _section(f"Downtime (times in {st['timezone']})", _DOWNTIME_COLS, d["periods"]),
        _section("Incidents", _INCIDENT_COLS, d["incidents"]),
    ]
    if "readings" in d:
        title = "Readings (internal: the credit under each other reading of the SLA text)"
        parts.append(_section(title, _READING_COLS, d["readings"]))
    evidence = (
        f"Claim evidence: email {ev['email_to']} ({ev['vendor']}), subject "
        f'"{ev["subject"]}", within 60 days of each incident'
    )
    parts += [
        _section(evidence, _EVIDENCE_COLS, ev["incidents"]),
        _section("Claims", _CLAIM_COLS, d["claims"]),
        _section("Claimed intervals", _INTERVAL_COLS, d["claim_intervals"]),
    ]
    if "support" in d:
        parts.append(_support(d["support"]))
    return "\n\n".join(parts) + "\n"


# --- CSV -----------------------------------------------------------------


def _render_csv(d: JSON) -> str:
    """Sections separated by a blank line; each is a header row whose first
    cell is the section name, then one row per record with that name first,
    so a reader can split on it. The statement is one record: its fields are
    columns (objects and lists as compact JSON), like every other section."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    st = d["statement"]
    w.writerow(["statement", *st])
    w.writerow(
        [
            "statement",
            *(
                json.dumps(v, separators=(",", ":"))
                if isinstance(v, dict | list)
                else ("" if v is None else v)
                for v in st.values()
            ),
        ]
    )
    sections = [
        ("charges", _CHARGE_COLS, d["charges"]),
        ("credit_tiers", _TIER_COLS, d["credit_tiers"]),
        ("working", ("line",), [{"line": w} for w in d["working"]]),
        (
            "periods",
            (*_PERIOD_COLS, "start_utc", "end_utc", "incident_ids", "titles"),
            d["periods"],
        ),
        ("incidents", (*_INCIDENT_COLS, "started_at", "ended_at"), d["incidents"]),
        ("readings", _READING_COLS, d.get("readings") or []),
        ("claim_evidence", _EVIDENCE_COLS, d["claim_evidence"]["incidents"]),
        ("claims", _CLAIM_COLS, d["claims"]),
        ("claim_intervals", _INTERVAL_COLS, d["claim_intervals"]),
    ]
    if "readings" not in d:
        sections = [sec for sec in sections if sec[0] != "readings"]
    if "support" in d:
        sections.append(("support_months", MONTH_COLS, d["support"]["months"]))
        sections.append(("support_breached", BREACH_COLS, d["support"]["breached"]))
    for name, cols, rows in sections:
        w.writerow([])
        w.writerow([name, *cols])
        for r in rows:
            w.writerow([name, *[r[c] for c in cols]])
    return buf.getvalue()
