"""The HTML page of the monthly report (see :mod:`reports.month`).

One self-contained page (inline CSS, an inline SVG timeline, no script), printable
on A4: banners for a month in progress and low coverage, the headline figures, the
timeline (up only where the elapsed minutes had data, no data grey, the minutes to
come hatched), then every section of the report data.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reports.month_data import _periods
from reports.month_tables import (
    _CHARGE_COLS,
    _CLAIM_COLS,
    _DOWNTIME_COLS,
    _EVIDENCE_COLS,
    _INCIDENT_COLS,
    _INTERVAL_COLS,
    _READING_COLS,
    _TIER_COLS,
    _cell,
)
from reports.support import BREACH_COLS, MONTH_COLS
from sla.model import JSON
from sla.timeutil import parse_instant

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
    start = parse_instant(statement["period_start"])
    end = parse_instant(statement["period_end"])
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
    out += _day_ticks(x, start.astimezone(tz), end, top, height)
    periods = _periods(statement)
    for i, svc in enumerate(services):
        y = top + i * lane
        counts = statement["services"][svc]
        out.append(
            f'<text x="4" y="{y + 16}" font-size="12" fill="#1d232a">{html.escape(svc)}</text>'
        )
        out.append(_lane_background(x, y, start, now, end, counts))
        out += _lane_periods(x, y, svc, periods)
        out.append(_lane_counts(left + width, y, counts))
    out.append(
        f'<text x="{left}" y="{height - 6}" font-size="10" fill="#5b6470">'
        f"{html.escape(statement['period_start'])} to {html.escape(statement['period_end'])} "
        f"(days in {html.escape(statement.get('timezone', 'UTC'))})</text>"
    )
    out.append("</svg>")
    return "".join(out)


def _day_ticks(
    x: Callable[[datetime], float], local_start: datetime, end: datetime, top: int, height: int
) -> list[str]:
    """Day ticks at local midnights, labelled every few days to stay legible."""
    out = []
    day = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
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
    return out


def _lane_periods(
    x: Callable[[datetime], float], y: int, svc: str, periods: Sequence[JSON]
) -> list[str]:
    """The counted and excluded periods of one service's lane."""
    out = []
    for p in periods:
        if p["service"] != svc:
            continue
        kind = "counted" if p["treatment"] == "counted" else "excluded"
        x0, x1 = x(parse_instant(p["start_utc"])), x(parse_instant(p["end_utc"]))
        # A minute is 0.02 px wide at this scale: keep every period visible.
        w = max(2.0, x1 - x0)
        out.append(
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{w:.1f}" height="22" '
            f'fill="{_COLOURS[kind]}"><title>{html.escape(svc)} {p["start_utc"]} - '
            f"{p['end_utc']} {kind}</title></rect>"
        )
    return out


def _lane_counts(right: int, y: int, counts: JSON) -> str:
    """The label under a lane: its counted, excluded and no-data minutes, and coverage."""
    excluded = sum((counts.get("excluded_minutes") or {}).values())
    return (
        f'<text x="{right}" y="{y + 33}" font-size="10" text-anchor="end" '
        f'fill="#5b6470">counted {counts.get("counted_downtime_minutes", 0)} min · '
        f"excluded {excluded} min · no data {counts.get('no_data_minutes', 0)} min · "
        f"coverage {counts.get('coverage_percent', '-')} %</text>"
    )


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
        silent = parse_instant(a), parse_instant(b)
        parts.append(rect(*silent, _COLOURS["no_data"], what=f"no data {a} - {b}"))
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


def _kpis(st: JSON, pg: JSON) -> str:
    e = html.escape
    kpis = [
        ("Uptime", f"{st['uptime_percent']} %"),
        ("Target met so far" if pg["in_progress"] else "Target met", _yes(st["meets_target"])),
        ("Coverage", f"{pg['coverage_percent']} %"),
        ("Elapsed", f"{pg['elapsed_minutes']:,} of {pg['minutes_in_month']:,} min"),
        ("Credit", f"{st['credit_percent']} %"),
        ("Credit amount", f"{st['credit_amount']} {st['currency']}"),
        ("Counted downtime", f"{st['counted_downtime_minutes']} min"),
        ("No data", f"{st['no_data_minutes']} min"),
    ]
    return "".join(f'<div class="kpi">{e(k)}<b>{e(v)}</b></div>' for k, v in kpis)


def _services(d: JSON) -> str:
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
    return _html_table(tuple(svc_rows[0].keys()) if svc_rows else ("service",), svc_rows)


def _head(d: JSON) -> list[str]:
    """The page's head, then its title, banners and headline figures."""
    st, pg = d["statement"], d["progress"]
    e = html.escape
    excl = ", ".join(f"{k}: {v}" for k, v in st["excluded_minutes"].items()) or "none"
    banners = "".join(
        f'<div class="banner {e(b["kind"])}" role="alert">{e(b["text"])}</div>'
        for b in pg["banners"]
    )
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>SLA statement {e(st['contract_id'])} {e(st['month'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>SLA statement {e(st['contract_id'])} &middot; {e(st['month'])}</h1>",
        f'<p class="muted">Client {e(st["client_id"])} &middot; timezone {e(st["timezone"])} '
        f"&middot; {e(str(st['status']))}, revision {e(str(st['revision']))} &middot; "
        f"basis {e(st['credit_basis'])} &middot; computed {e(str(st['computed_at']))}</p>",
        banners,
        f'<div class="kpis">{_kpis(st, pg)}</div>',
        f"<p>Minutes in month {st['minutes_in_month']}; down {st['down_minutes']}; "
        f"excluded {e(excl)}; affected services "
        f"{e(', '.join(st['affected_services']) or 'none')}.</p>",
    ]


def _legend() -> str:
    return "".join(
        f'<span><i class="sw" style="background:{_SWATCH.get(k, _COLOURS[k])}"></i>'
        f"{html.escape(k.replace('_', ' '))}</span>"
        for k in ("counted", "excluded", "no_data", "up", "not_yet_elapsed")
    )


def _evidence(ev: JSON) -> str:
    """What the claim evidence pack is for: where to email it, and by when."""
    e = html.escape
    deadline = ev["earliest_deadline_utc"] or "no counted incident"
    return (
        f"<p>Email <b>{e(ev['email_to'])}</b> ({e(ev['vendor'])}) with the subject "
        f"<b>&ldquo;{e(ev['subject'])}&rdquo;</b>, listing the dates and times below, "
        f"within 60 days of each incident (earliest deadline {e(deadline)}).</p>"
    )


def render_html(d: JSON, statement: JSON) -> str:
    """The report data ``d`` of ``statement`` as one HTML page."""
    ev = d["claim_evidence"]
    working = "\n".join(html.escape(line) for line in d["working"])
    parts = [
        *_head(d),
        "<h2>Timeline</h2>",
        f'<div class="legend">{_legend()}</div>',
        _svg_timeline(statement),
        "<h2>Services</h2>",
        _services(d),
        "<h2>Charges and credit</h2>",
        _html_table(_CHARGE_COLS, d["charges"]),
        "<h3>Credit tiers</h3>",
        _html_table(_TIER_COLS, d["credit_tiers"]),
        "<h3>Working</h3>",
        f'<div class="working">{working}</div>',
        "<h2>Downtime incidents and excluded periods</h2>",
        f'<p class="muted">Times in {html.escape(d["statement"]["timezone"])}; the UTC '
        "instants are in the claim evidence below.</p>",
        _html_table(_DOWNTIME_COLS, d["periods"], cls_key="treatment"),
        "<h3>Incidents</h3>",
        _html_table(_INCIDENT_COLS, d["incidents"]),
        *_html_readings(d),
        "<h2>Claim evidence pack</h2>",
        _evidence(ev),
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
