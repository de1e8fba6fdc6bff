"""The monthly SLA report of one contract: table, JSON, CSV or HTML.

:func:`render_report` is pure: a contract-month statement and the claim
decisions in, text out. It shows the statement's headline numbers, the
counted downtime incidents and the excluded periods, the readings table
(the contract's own reading and every reading whose credit differs, with the
difference), the claim evidence pack a client needs to file an
"SLA Credit Request" within 60 days, and the claim decisions.
:func:`fetch_report_inputs` reads those inputs from a store. The words and
the working come from :mod:`reports.explain`, the support section from
:mod:`reports.support`, the HTML page from :mod:`reports.html`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from reports import explain
from reports.explain import DEFAULT_CLAIM_EMAIL, ReportSettings
from reports.support import BREACH_COLS, MONTH_COLS, support_section
from reports.text import columns
from sla.book import Settings
from sla.model import JSON

FORMATS = ("table", "json", "jsonl", "csv", "html")
AUDIENCES = ("internal", "customer")
CLAIM_SUBJECT = "SLA Credit Request"
#: the SLA's claim address, the default of ``ReportSettings.claim_email``
CLAIM_EMAIL = DEFAULT_CLAIM_EMAIL
#: 86,400 minutes after the rounded end (SPEC section 7): the rules' own window
CLAIM_WINDOW = Settings().claim_window


class ReportStore(Protocol):
    """What the report reads from a store (``sinks.store.ClickHouseStore``)."""

    def latest_contract_month(self, contract_id: str, month: str) -> JSON | None: ...

    def claim_decisions(self, contract_id: str) -> list[JSON]: ...


def fetch_report_inputs(
    store: ReportStore, contract_id: str, month: str
) -> tuple[JSON, list[JSON]]:
    """The latest statement and the claim decisions that touch ``month``.

    Raises ``LookupError`` when the store has no statement for the month.
    """
    statement = store.latest_contract_month(contract_id, month)
    if statement is None:
        raise LookupError(f"no statement for contract {contract_id} in {month}")
    claims = [
        c
        for c in store.claim_decisions(contract_id)
        if not c.get("credits") or any(cr.get("month") == month for cr in c["credits"])
    ]
    return statement, claims


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


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
            start, end = _instant(it["start"]), _instant(it["end"])
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
        return _instant(text).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)")

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
        deadline = _instant(p["end_utc"]) + CLAIM_WINDOW
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
            "explanation": explain.claim_words(c, statement),
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
        "claim_intervals": explain.claim_intervals(claims, statement),
    }
    if audience == "internal":
        data["readings"] = _readings(statement)
    if support is not None:
        data["support"] = support_section(*support)
    return data


# --- text table ----------------------------------------------------------


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


def _render_table(d: JSON) -> str:
    st = d["statement"]
    ev = d["claim_evidence"]
    pg = d["progress"]
    excl = ", ".join(f"{k} {v}" for k, v in st["excluded_minutes"].items()) or "none"
    so_far = " so far" if pg["in_progress"] else ""
    head = [
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
    svc_rows = [
        (
            name,
            s.get("uptime_percent"),
            s.get("counted_downtime_minutes"),
            sum((s.get("excluded_minutes") or {}).values()),
            s.get("no_data_minutes"),
            s.get("credit_percent"),
            s.get("credit_amount"),
        )
        for name, s in d["services"].items()
    ]
    parts = [
        "\n".join(head),
        "Services\n"
        + _table(
            ("service", "uptime", "counted", "excluded", "no_data", "credit_%", "credit"), svc_rows
        ),
        "Charges\n" + _table(_CHARGE_COLS, _rows(_CHARGE_COLS, d["charges"])),
        "Credit tiers\n" + _table(_TIER_COLS, _rows(_TIER_COLS, d["credit_tiers"])),
        "Working\n" + "\n".join(d["working"]),
        f"Downtime (times in {st['timezone']})\n"
        + _table(_DOWNTIME_COLS, _rows(_DOWNTIME_COLS, d["periods"])),
        "Incidents\n" + _table(_INCIDENT_COLS, _rows(_INCIDENT_COLS, d["incidents"])),
    ]
    if "readings" in d:
        parts.append(
            "Readings (internal: the credit under each other reading of the SLA text)\n"
            + _table(_READING_COLS, _rows(_READING_COLS, d["readings"]))
        )
    parts += [
        f"Claim evidence: email {ev['email_to']} ({ev['vendor']}), subject "
        f'"{ev["subject"]}", within 60 days of each incident\n'
        + _table(_EVIDENCE_COLS, _rows(_EVIDENCE_COLS, ev["incidents"])),
        "Claims\n" + _table(_CLAIM_COLS, _rows(_CLAIM_COLS, d["claims"])),
        "Claimed intervals\n" + _table(_INTERVAL_COLS, _rows(_INTERVAL_COLS, d["claim_intervals"])),
    ]
    if "support" in d:
        sp = d["support"]
        parts.append(
            f"Support: first-response compliance (business minutes)\n{sp['calendar']}\n"
            + _table(MONTH_COLS, _rows(MONTH_COLS, sp["months"]))
            + "\nBreached tickets\n"
            + _table(BREACH_COLS, _rows(BREACH_COLS, sp["breached"]))
        )
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


def _listed(period: JSON) -> JSON:
    """A period row with ``causes`` and ``incident_ids`` as lists (``-`` is none)."""
    out = dict(period)
    for key in ("causes", "incident_ids"):
        text = str(period[key])
        out[key] = [] if text == "-" else text.split(", ")
    return out


def render_report(
    statement: JSON,
    claims: list[JSON],
    fmt: str,
    audience: str = "internal",
    settings: ReportSettings | None = None,
    support: tuple[Sequence[JSON], Sequence[JSON]] | None = None,
) -> str:
    """Render the report of one contract month; ``fmt`` is one of :data:`FORMATS`.

    Pure and deterministic (no clock: deadlines derive from the incidents).
    ``audience`` is one of :data:`AUDIENCES`; ``settings`` name the vendor,
    the claim address and the low-coverage threshold (default: the SLA's).
    Raises ``ValueError`` for an unknown format or audience and ``KeyError``
    when the statement lacks a SPEC section 6 field.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}; expected one of {', '.join(AUDIENCES)}")
    data = report_data(statement, claims, audience, settings, support)
    if fmt in ("json", "jsonl"):
        # lists stay lists for programs, as in the statement and replay's records
        data = {**data, "periods": [_listed(p) for p in data["periods"]]}
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "jsonl":  # the same data on one line, for pipes and log shippers
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _render_csv(data)
    if fmt == "html":
        from reports.html import render_html

        return render_html(data, statement)
    return _render_table(data)


__all__ = [
    "AUDIENCES",
    "CLAIM_EMAIL",
    "CLAIM_SUBJECT",
    "FORMATS",
    "fetch_report_inputs",
    "render_report",
    "report_data",
]
