"""The monthly SLA report of one contract: table, JSON, CSV or HTML.

:func:`render_report` is pure: a contract-month statement and the claim
decisions in, text out. It shows the statement's headline numbers, the
counted downtime incidents and the excluded periods, the readings table
(the contract's own reading and every reading whose credit differs, with the
difference), the claim evidence pack a client needs to file an
"SLA Credit Request" within 60 days, and the claim decisions.
:func:`fetch_report_inputs` reads those inputs from a store.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from streams import explain
from streams.explain import DEFAULT_CLAIM_EMAIL, ReportSettings
from streams.support_report import BREACH_COLS, MONTH_COLS, support_section

JSON = dict[str, Any]

FORMATS = ("table", "json", "jsonl", "csv", "html")
AUDIENCES = ("internal", "customer")
CLAIM_SUBJECT = "SLA Credit Request"
#: the SLA's claim address, the default of ``ReportSettings.claim_email``
CLAIM_EMAIL = DEFAULT_CLAIM_EMAIL
CLAIM_WINDOW = timedelta(days=60)  # 86,400 minutes after the rounded end (SPEC section 7)


class ReportStore(Protocol):
    """What the report reads from a store (``sinks.clickhouse.ClickHouseStore``)."""

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


class WorkerApiStore:
    """Reads statements and claim decisions from a running worker's HTTP API.

    For when the worker owns the embedded chDB store (one process per path):
    ``GET /statements/{contract}/{month}`` and ``GET /claims/{contract}``.
    The API token, when the worker asks for one, comes from ``token`` or the
    worker's own settings (``AVAILABILITY_API_TOKEN_FILE`` / ``AVAILABILITY_API_TOKEN``).
    """

    def __init__(self, base_url: str, timeout: float = 10.0, token: str | None = None) -> None:
        from streams.secrets import read_secret

        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token if token is not None else read_secret("AVAILABILITY_API_TOKEN")

    def _get(self, path: str) -> Any:
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        url = self.base_url + urllib.parse.quote(path)
        request = urllib.request.Request(url)
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def latest_contract_month(self, contract_id: str, month: str) -> JSON | None:
        found = self._get(f"/statements/{contract_id}/{month}")
        return found if isinstance(found, dict) else None

    def claim_decisions(self, contract_id: str) -> list[JSON]:
        found = self._get(f"/claims/{contract_id}")
        return list(found["claims"]) if isinstance(found, dict) else []


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
    cells = [[str(h) for h in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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


# --- HTML ----------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;
margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #ccd}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.kpi{border:1px solid #ccd;border-radius:6px;padding:8px 12px;min-width:150px}
.kpi b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{border:1px solid #dde;padding:3px 6px;text-align:left;font-variant-numeric:tabular-nums}
th{background:#eef1f6}
.counted{color:#b3261e}.excluded{color:#7a5a00}
.legend span{display:inline-block;margin-right:16px}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
.muted{color:#5b6470}
.banner{border:1px solid #c77700;background:#fff4e0;border-radius:6px;padding:8px 12px;margin:8px 0}
.banner.low_coverage{border-color:#b3261e;background:#fdecea}
.working{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;margin:4px 0}
@media print{
 @page{size:A4 portrait;margin:12mm}
 body{margin:0;max-width:none;font-size:11px}
 h2{break-after:avoid}
 table,svg,.kpis{break-inside:avoid}
 tr{break-inside:avoid}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""

_COLOURS = {
    "counted": "#d93025",
    "excluded": "#f2a900",
    "no_data": "#8a94a6",
    "up": "#34a853",
    "not_yet_elapsed": "url(#future)",
}
#: the hatch of the minutes still to come (grey stripes: neither up nor down yet)
_HATCH = (
    '<defs><pattern id="future" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eceff3"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#8a94a6" stroke-width="2"/></pattern></defs>'
)


def _svg_timeline(statement: JSON) -> str:
    """The month as one lane per service: up (green) only where the elapsed
    minutes had data, no-data runs grey, counted and excluded periods on top,
    the minutes still to come hatched; each lane is labelled with its counts."""
    start = _instant(statement["period_start"])
    end = _instant(statement["period_end"])
    total = max(1.0, (end - start).total_seconds() / 60)
    services = list((statement.get("services") or {}).keys())
    left, width, lane, top = 90, 980, 34, 24
    height = top + lane * max(1, len(services)) + 30
    tz = ZoneInfo(statement.get("timezone") or "UTC")

    def x(t: datetime) -> float:
        return left + width * max(0.0, min(1.0, (t - start).total_seconds() / 60 / total))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 10} {height}" '
        f'width="100%" role="img" aria-label="timeline of {html.escape(statement["month"])}">',
        _HATCH,
    ]
    now = start + timedelta(minutes=int(statement.get("elapsed_minutes", total)))
    # Day ticks at local midnights, labelled every few days to stay legible.
    day = start.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    n = 0
    while day.astimezone(UTC) < end:
        px = x(day.astimezone(UTC))
        out.append(
            f'<line x1="{px:.1f}" y1="{top - 4}" x2="{px:.1f}" y2="{height - 24}" '
            'stroke="#dde" stroke-width="1"/>'
        )
        if n % 3 == 0:
            out.append(
                f'<text x="{px + 2:.1f}" y="{top - 8}" font-size="10" fill="#5b6470">'
                f"{day.day:d}</text>"
            )
        n += 1
        day = day + timedelta(days=1)  # wall-clock arithmetic: stays at local midnight
    periods = _periods(statement)
    for i, svc in enumerate(services):
        y = top + i * lane
        counts = statement["services"][svc]
        excluded = sum((counts.get("excluded_minutes") or {}).values())
        out.append(
            f'<text x="4" y="{y + 16}" font-size="12" fill="#1d232a">{html.escape(svc)}</text>'
        )
        out.append(_lane_background(x, y, start, now, end, counts))
        for p in periods:
            if p["service"] != svc:
                continue
            kind = "counted" if p["treatment"] == "counted" else "excluded"
            x0, x1 = x(_instant(p["start_utc"])), x(_instant(p["end_utc"]))
            # A minute is 0.02 px wide at this scale: keep every period visible.
            w = max(2.0, x1 - x0)
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 2}" width="{w:.1f}" height="22" '
                f'fill="{_COLOURS[kind]}"><title>{html.escape(svc)} {p["start_utc"]} - '
                f"{p['end_utc']} {kind}</title></rect>"
            )
        out.append(
            f'<text x="{left + width}" y="{y + 33}" font-size="10" text-anchor="end" '
            f'fill="#5b6470">counted {counts.get("counted_downtime_minutes", 0)} min · '
            f"excluded {excluded} min · no data {counts.get('no_data_minutes', 0)} min · "
            f"coverage {counts.get('coverage_percent', '-')} %</text>"
        )
    out.append(
        f'<text x="{left}" y="{height - 6}" font-size="10" fill="#5b6470">'
        f"{html.escape(statement['period_start'])} to {html.escape(statement['period_end'])} "
        f"(days in {html.escape(statement.get('timezone', 'UTC'))})</text>"
    )
    out.append("</svg>")
    return "".join(out)


def _lane_background(
    x: Any, y: int, start: datetime, now: datetime, end: datetime, counts: JSON
) -> str:
    """One lane's ground: up over the elapsed minutes, grey where they had no data,
    hatched for the minutes still to come (never drawn as up)."""

    def rect(a: datetime, b: datetime, fill: str, opacity: str = "1", what: str = "") -> str:
        x0, x1 = x(a), x(b)
        tip = f"<title>{html.escape(what)}</title>" if what else ""
        return (
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(1.0, x1 - x0):.1f}" height="18" '
            f'fill="{fill}" opacity="{opacity}">{tip}</rect>'
        )

    parts = []
    if now > start:
        parts.append(rect(start, min(now, end), _COLOURS["up"], "0.35"))
    for a, b in counts.get("no_data_periods") or []:
        parts.append(rect(_instant(a), _instant(b), _COLOURS["no_data"], what=f"no data {a} - {b}"))
    if now < end:
        parts.append(rect(now, end, _COLOURS["not_yet_elapsed"], what="not yet elapsed"))
    return "".join(parts)


def _html_table(cols: Sequence[str], rows: Sequence[JSON], cls_key: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in cols)
    body = []
    for r in rows:
        cls = ""
        if cls_key is not None:
            cls = f' class="{"counted" if r[cls_key] == "counted" else "excluded"}"'
        cells = "".join(f"<td>{html.escape(_cell(r[c]))}</td>" for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(cols)}" class="muted">none</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _render_html(d: JSON, statement: JSON) -> str:
    st = d["statement"]
    ev = d["claim_evidence"]
    pg = d["progress"]
    e = html.escape
    excl = ", ".join(f"{k}: {v}" for k, v in st["excluded_minutes"].items()) or "none"
    kpis = [
        ("Uptime", f"{st['uptime_percent']} %"),
        ("Target met so far" if pg["in_progress"] else "Target met", _yes(st["meets_target"])),
        ("Coverage", f"{pg['coverage_percent']} %"),
        ("Elapsed", f"{pg['elapsed_minutes']} of {pg['minutes_in_month']} min"),
        ("Credit", f"{st['credit_percent']} %"),
        ("Credit amount", f"{st['credit_amount']} {st['currency']}"),
        ("Counted downtime", f"{st['counted_downtime_minutes']} min"),
        ("No data", f"{st['no_data_minutes']} min"),
    ]
    kpi_html = "".join(f'<div class="kpi">{e(k)}<b>{e(v)}</b></div>' for k, v in kpis)
    svc_rows = [
        {
            "service": name,
            "uptime_percent": s.get("uptime_percent"),
            "counted_downtime_minutes": s.get("counted_downtime_minutes"),
            "excluded": sum((s.get("excluded_minutes") or {}).values()),
            "no_data_minutes": s.get("no_data_minutes"),
            "credit_percent": s.get("credit_percent"),
            "credit_amount": s.get("credit_amount"),
        }
        for name, s in d["services"].items()
    ]
    svc_cols = tuple(svc_rows[0].keys()) if svc_rows else ("service",)
    legend = "".join(
        f'<span><i class="sw" style="background:{_SWATCH.get(k, _COLOURS[k])}"></i>'
        f"{e(k.replace('_', ' '))}</span>"
        for k in ("counted", "excluded", "no_data", "up", "not_yet_elapsed")
    )
    banners = "".join(
        f'<div class="banner {e(b["kind"])}" role="alert">{e(b["text"])}</div>'
        for b in pg["banners"]
    )
    working = "\n".join(e(line) for line in d["working"])
    deadline = ev["earliest_deadline_utc"] or "no counted incident"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>SLA statement {e(st['contract_id'])} {e(st['month'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>SLA statement {e(st['contract_id'])} &middot; {e(st['month'])}</h1>",
        f'<p class="muted">Client {e(st["client_id"])} &middot; timezone {e(st["timezone"])} '
        f"&middot; {e(str(st['status']))}, revision {e(str(st['revision']))} &middot; "
        f"basis {e(st['credit_basis'])} &middot; computed {e(str(st['computed_at']))}</p>",
        banners,
        f'<div class="kpis">{kpi_html}</div>',
        f"<p>Minutes in month {st['minutes_in_month']}; down {st['down_minutes']}; "
        f"excluded {e(excl)}; affected services "
        f"{e(', '.join(st['affected_services']) or 'none')}.</p>",
        "<h2>Timeline</h2>",
        f'<div class="legend">{legend}</div>',
        _svg_timeline(statement),
        "<h2>Services</h2>",
        _html_table(svc_cols, svc_rows),
        "<h2>Charges and credit</h2>",
        _html_table(_CHARGE_COLS, d["charges"]),
        "<h3>Credit tiers</h3>",
        _html_table(_TIER_COLS, d["credit_tiers"]),
        "<h3>Working</h3>",
        f'<div class="working">{working}</div>',
        "<h2>Downtime incidents and excluded periods</h2>",
        f'<p class="muted">Times in {e(st["timezone"])}; the UTC instants are in the claim '
        "evidence below.</p>",
        _html_table(_DOWNTIME_COLS, d["periods"], cls_key="treatment"),
        "<h3>Incidents</h3>",
        _html_table(_INCIDENT_COLS, d["incidents"]),
        *_html_readings(d),
        "<h2>Claim evidence pack</h2>",
        f"<p>Email <b>{e(ev['email_to'])}</b> ({e(ev['vendor'])}) with the subject "
        f"<b>&ldquo;{e(ev['subject'])}&rdquo;</b>, listing the dates and times below, "
        f"within 60 days of each incident (earliest deadline {e(deadline)}).</p>",
        _html_table(_EVIDENCE_COLS, ev["incidents"]),
        "<h2>Claims</h2>",
        _html_table(_CLAIM_COLS, d["claims"]),
        "<h3>Claimed intervals</h3>",
        _html_table(_INTERVAL_COLS, d["claim_intervals"]),
        *_html_support(d),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


_SWATCH = {"not_yet_elapsed": "repeating-linear-gradient(45deg,#8a94a6 0 2px,#eceff3 2px 6px)"}


def _html_support(d: JSON) -> list[str]:
    if "support" not in d:
        return []
    sp = d["support"]
    return [
        "<h2>Support: first-response compliance</h2>",
        f'<p class="muted">{html.escape(sp["calendar"])}. Percentiles in business minutes.</p>',
        _html_table(MONTH_COLS, sp["months"]),
        "<h3>Breached tickets</h3>",
        _html_table(BREACH_COLS, sp["breached"]),
    ]


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"


def _html_readings(d: JSON) -> list[str]:
    if "readings" not in d:
        return []
    return [
        "<h2>Readings (internal)</h2>",
        '<p class="muted">The SLA text leaves some choices open. Each row recomputes the '
        "month under one other choice (its description says which); shown are the "
        "contract's own terms and every reading under which the credit would differ.</p>",
        _html_table(_READING_COLS, d["readings"]),
    ]


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
        return _render_html(data, statement)
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
