"""Flat CSV exports for finance: one row per contract-month, one row per claim decision.

Columns are named as the fields of the JSON outputs (SPEC sections 6 and 7);
an object field becomes one column per key, named ``field.key``
(``excluded_minutes.aws``), and a list of names one column of names joined
by spaces (``affected_services``). Money and percentages stay the exact
decimal text of the output: a spreadsheet that parses them gets the value
the statement holds, never a float rounded on the way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from sla.model import CAUSE_PRECEDENCE, JSON

CONTRACT_MONTH_COLUMNS: tuple[str, ...] = (
    "contract_id",
    "client_id",
    "month",
    "revision",
    "status",
    "contract_revision",
    "timezone",
    "period_start",
    "period_end",
    "minutes_in_month",
    "elapsed_minutes",
    "remaining_minutes",
    "up_minutes",
    "down_minutes",
    "counted_downtime_minutes",
    *(f"excluded_minutes.{c.value}" for c in CAUSE_PRECEDENCE),
    "no_data_minutes",
    "data_minutes",
    "coverage_percent",
    "uptime_percent",
    "uptime_target",
    "meets_target",
    "error_budget_minutes",
    "error_budget_remaining_minutes",
    "credit_basis",
    "credit_percent",
    "credit_amount",
    "currency",
    "affected_services",
    "finalizes_at",
    "computed_at",
)

CLAIM_COLUMNS: tuple[str, ...] = (
    "claim_id",
    "contract_id",
    "client_id",
    "submitted_at",
    "decision",
    "reason",
    "minutes_accepted",
    "intervals_accepted",
    "intervals_rejected",
    "credit_total",
    "currency",
    "revision",
    "computed_at",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _field(record: JSON, column: str) -> Any:
    if "." in column:
        name, key = column.split(".", 1)
        return (record.get(name) or {}).get(key, 0)
    return record.get(column)


def contract_month_rows(outputs: Iterable[JSON]) -> list[list[str]]:
    """One row per ``contract_month`` output, in :data:`CONTRACT_MONTH_COLUMNS` order."""
    return [
        [_cell(_field(o, c)) for c in CONTRACT_MONTH_COLUMNS]
        for o in outputs
        if o.get("kind") == "contract_month"
    ]


def claim_rows(outputs: Iterable[JSON]) -> list[list[str]]:
    """One row per ``claim_decision`` output, in :data:`CLAIM_COLUMNS` order."""
    rows = []
    for o in outputs:
        if o.get("kind") != "claim_decision":
            continue
        verdicts = [i.get("verdict") for i in o.get("intervals") or []]
        flat = {
            **o,
            "intervals_accepted": verdicts.count("accepted"),
            "intervals_rejected": verdicts.count("rejected"),
        }
        rows.append([_cell(flat.get(c)) for c in CLAIM_COLUMNS])
    return rows


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A header row and ``rows``, RFC 4180 quoting, ``\\n`` line ends."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


__all__ = [
    "CLAIM_COLUMNS",
    "CONTRACT_MONTH_COLUMNS",
    "claim_rows",
    "contract_month_rows",
    "to_csv",
]
