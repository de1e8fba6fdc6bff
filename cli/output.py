"""How the commands print records: tables for a terminal, JSON, JSON Lines and CSV.

The replay tables (:func:`replay_table`) show the pipeline's outputs; the
listing tables (``statement_rows`` and the others) show the records of
:mod:`sinks.queries`. Every table function takes the list a command prints
and returns the text; json and jsonl print the records themselves
(:func:`print_records`).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import IO, Any

from cli.errors import CliError
from reports.explain import below_coverage, coverage_failure
from reports.support import support_table
from reports.text import columns
from schemas.codec import dumps
from sla.model import JSON

#: How the commands that print records print them.
RECORD_FORMATS = ("table", "json", "jsonl")


def print_records(
    outputs: list[JSON],
    fmt: str,
    out: IO[str] | None = None,
    table: Callable[[list[JSON]], str] | None = None,
    encode: Callable[[JSON], str] = dumps,
) -> None:
    """Print ``outputs`` as a table (``table``, default the replay tables), one JSON array,
    JSON Lines or CSV (``fmt``), each record's JSON written by ``encode``.

    CSV has a header row of every field in first-seen order, then a row per
    record: objects and lists as compact JSON, ``null`` as an empty cell.
    """
    out = out if out is not None else sys.stdout
    if fmt == "jsonl":
        for o in outputs:
            out.write(encode(o) + "\n")
    elif fmt == "json":
        out.write("[\n" + ",\n".join(encode(o) for o in outputs) + ("\n]\n" if outputs else "]\n"))
    elif fmt == "csv":
        write_csv(outputs, out)
    else:
        out.write((table or replay_table)(outputs) + "\n")


def check_coverage(outputs: list[JSON], minimum: Decimal | None) -> None:
    """``--min-coverage``: fail (exit 1) naming the contract-months below it."""
    if minimum is None:
        return
    low = below_coverage(outputs, minimum)
    if low:
        raise CliError(coverage_failure(low, minimum))


_CONTRACT_MONTH_HEAD = (
    "contract",
    "month",
    "tz",
    "minutes",
    "counted",
    "excluded",
    "no data",
    "coverage %",
    "elapsed",
    "uptime %",
    "target",
    "credit %",
    "credit",
    "status",
)


def _contract_month_row(o: JSON) -> tuple[str, ...]:
    return (
        o["contract_id"],
        o["month"],
        o["timezone"],
        str(o["minutes_in_month"]),
        str(o["counted_downtime_minutes"]),
        str(sum(o["excluded_minutes"].values())),
        str(o["no_data_minutes"]),
        o["coverage_percent"],
        f"{o['elapsed_minutes']}/{o['minutes_in_month']}",
        o["uptime_percent"],
        # a month in progress has only met (or missed) its target so far
        ("met" if o["meets_target"] else "MISSED") + (" so far" if o["remaining_minutes"] else ""),
        o["credit_percent"],
        f"{o['credit_amount']} {o['currency']}",
        f"{o['status']} r{o['revision']}",
    )


_SERVICE_MONTH_HEAD = (
    "service",
    "month",
    "minutes",
    "down",
    "counted",
    "excluded",
    "no data",
    "coverage %",
    "uptime %",
    "status",
)


def _service_month_row(o: JSON) -> tuple[str, ...]:
    return (
        o["service"],
        o["month"],
        str(o["minutes_in_month"]),
        str(o["down_minutes"]),
        str(o["counted_downtime_minutes"]),
        str(sum(o["excluded_minutes"].values())),
        str(o["no_data_minutes"]),
        o["coverage_percent"],
        o["uptime_percent"],
        f"{o['status']} r{o['revision']}",
    )


_CLAIM_HEAD = ("claim", "contract", "decision", "reason", "minutes", "credit")


def _claim_row(o: JSON) -> tuple[str, ...]:
    credit = f"{o['credit_total']} {o['currency']}" if o["credit_total"] else "-"
    return (
        o["claim_id"],
        o["contract_id"],
        o["decision"],
        o["reason"] or "-",
        str(o["minutes_accepted"]),
        credit,
    )


#: The replay tables in order: (output kind, title, header, row of one output).
_REPLAY_TABLES: tuple[tuple[str, str, tuple[str, ...], Callable[[JSON], tuple[str, ...]]], ...] = (
    ("contract_month", "Contract-month statements", _CONTRACT_MONTH_HEAD, _contract_month_row),
    ("service_month", "Service-month records (UTC)", _SERVICE_MONTH_HEAD, _service_month_row),
    ("claim_decision", "Claim decisions", _CLAIM_HEAD, _claim_row),
)


def replay_table(outputs: list[JSON]) -> str:
    """The tables of replay and demo: contract-months, service-months, claims, support."""
    lines: list[str] = []
    for k, (kind, title, head, row) in enumerate(_REPLAY_TABLES):
        records = [o for o in outputs if o["kind"] == kind]
        if records:
            # every table but the first follows a blank line, even when the first is absent
            lines.extend([*([""] if k else []), title, *columns(head, [row(o) for o in records])])
    lines.extend(support_table(outputs))
    return "\n".join(lines)


def write_csv(records: Sequence[JSON], out: IO[str]) -> None:
    """A header of every field in first-seen order, then a row per record.

    Objects and lists are compact JSON, ``null`` an empty cell, as in the
    report's CSV.
    """
    fields = list(dict.fromkeys(k for r in records for k in r))
    w = csv.writer(out, lineterminator="\n")
    w.writerow(fields)
    for r in records:
        w.writerow(
            [
                json.dumps(v, separators=(",", ":"), ensure_ascii=False)
                if isinstance(v, dict | list)
                else ("" if v is None else v)
                for v in (r.get(f) for f in fields)
            ]
        )


def _grid(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    return "\n".join(columns(head, rows))


def _money(amount: object, currency: object) -> str:
    return "-" if amount in (None, "") else f"{amount} {currency}"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def statement_rows(records: list[JSON]) -> str:
    head: tuple[str, ...] = (
        "contract",
        "client",
        "month",
        "tz",
        "status",
        "uptime %",
        "target",
        "counted",
    )
    head += ("excluded", "no data", "coverage %", "min left", "credit %", "credit", "computed")
    rows = [
        (
            r["contract_id"],
            r["client_id"],
            r["month"],
            r["timezone"],
            f"{r['status']} r{r['revision']}",
            r["uptime_percent"],
            "met" if r["meets_target"] else "MISSED",
            str(r["counted_downtime_minutes"]),
            str(sum((r["excluded_minutes"] or {}).values())),
            str(r["no_data_minutes"]),
            # statements stored before coverage was stated have neither field
            _or_dash(r.get("coverage_percent")),
            _or_dash(r.get("remaining_minutes")),
            r["credit_percent"],
            _money(r["credit_amount"], r["currency"]),
            r["computed_at"],
        )
        for r in records
    ]
    return _grid(head, rows)


def statement_view(records: list[JSON]) -> str:
    (st,) = records
    scalar = [(k, v) for k, v in st.items() if not isinstance(v, dict | list) and k != "kind"]
    width = max(len(k) for k, _ in scalar)
    lines = [f"{k.ljust(width)}  {'-' if v is None else v}" for k, v in scalar]
    excluded = ", ".join(f"{c} {n}" for c, n in (st.get("excluded_minutes") or {}).items())
    lines.append(f"{'excluded_minutes'.ljust(width)}  {excluded or '-'}")
    lines.append(f"{'affected_services'.ljust(width)}  {', '.join(st['affected_services']) or '-'}")
    head: tuple[str, ...] = (
        "service",
        "charge",
        "uptime %",
        "counted",
        "excluded",
        "no data",
        "coverage %",
        "credit %",
        "credit",
    )
    services = [
        (
            name,
            s["monthly_charge"],
            s["uptime_percent"],
            str(s["counted_downtime_minutes"]),
            str(sum(s["excluded_minutes"].values())),
            str(s["no_data_minutes"]),
            _or_dash(s.get("coverage_percent")),
            s["credit_percent"],
            s["credit_amount"],
        )
        for name, s in st["services"].items()
    ]
    downtime = [
        (
            d["service"],
            d["start"],
            d["end"],
            str(d["duration_minutes"]),
            ", ".join(d["causes"]) or "-",
            ", ".join(d["incident_ids"]) or "-",
        )
        for d in st["downtime_incidents"]
    ]
    parts = ["\n".join(lines), "Services\n" + _grid(head, services)]
    if downtime:
        parts.append(
            "Counted downtime\n"
            + _grid(("service", "start", "end", "minutes", "causes", "incidents"), downtime)
        )
    return "\n\n".join(parts)


def claim_rows(records: list[JSON]) -> str:
    head: tuple[str, ...] = (
        "claim",
        "contract",
        "client",
        "submitted",
        "decision",
        "reason",
        "minutes",
        "credit",
    )
    rows = [
        (
            r["claim_id"],
            r["contract_id"],
            r["client_id"],
            r["submitted_at"],
            f"{r['decision']} r{r['revision'] or 0}",
            r["reason"] or "-",
            str(r["minutes_accepted"]),
            _money(r["credit_total"], r["currency"]),
        )
        for r in records
    ]
    return _grid(head, rows)


def claim_view(records: list[JSON]) -> str:
    (c,) = records
    summary = claim_rows([{k: c.get(k) for k in ("claim_id", "contract_id", "client_id",
                                                    "submitted_at", "decision", "reason",
                                                    "minutes_accepted", "credit_total",
                                                    "currency", "revision")}])  # fmt: skip
    intervals = [
        (i["start"], i["end"], i["verdict"], i["reason"] or "-", str(i["minutes_accepted"]))
        for i in c.get("intervals") or []
    ]
    credits = [
        (m["month"], str(m["claimed_counted_minutes"]), m["uptime_percent"], m["credit_percent"],
         m["credit_amount"])
        for m in c.get("credits") or []
    ]  # fmt: skip
    parts = [summary, "Intervals\n" + _grid(("start", "end", "verdict", "reason", "minutes"),
                                            intervals)]  # fmt: skip
    if credits:
        head = ("month", "counted", "uptime %", "credit %", "credit")
        parts.append("Credit by month\n" + _grid(head, credits))
    return "\n\n".join(parts)


def ticket_rows(records: list[JSON]) -> str:
    head: tuple[str, ...] = (
        "ticket",
        "client",
        "severity",
        "status",
        "opened",
        "deadline",
        "responded",
    )
    head += ("business min", "policy")
    rows = [
        (
            r["ticket_id"],
            r["client_id"],
            r["severity"],
            r["status"],
            r["opened_at"],
            r["deadline"],
            r["responded_at"] or "-",
            r["response_business_minutes"] or "-",
            r["policy"],
        )
        for r in records
    ]
    return _grid(head, rows)


def contract_rows(records: list[JSON]) -> str:
    head: tuple[str, ...] = (
        "contract",
        "client",
        "rev",
        "services",
        "tz",
        "target",
        "basis",
        "excluded",
    )
    head += ("months",)
    rows = [
        (
            r["contract_id"],
            r["client_id"],
            str(r["revision"]),
            ", ".join(f"{s} {c}" for s, c in r["services"].items()) + f" {r['currency']}",
            r["timezone"],
            r["uptime_target"],
            r["credit_basis"],
            ", ".join(r["excluded_causes"]) or "-",
            f"{r['months_stated']}"
            + (f" ({r['first_month']}..{r['last_month']})" if r["months_stated"] else ""),
        )
        for r in records
    ]
    return _grid(head, rows)
