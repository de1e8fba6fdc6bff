"""Tables of the store listings (one line per record, columns for a terminal) and CSV.

The records are those of :mod:`sinks.queries`; every table function takes
the list a command prints and returns the text (json and jsonl print the
records themselves, see :func:`streams.cli.print_records`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from streams import cli

JSON = dict[str, Any]


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
    cells = [list(head), *[[str(c) for c in row] for row in rows]]
    return "\n".join(cli._columns(cells))


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


__all__ = [
    "claim_rows",
    "claim_view",
    "contract_rows",
    "statement_rows",
    "statement_view",
    "ticket_rows",
]
