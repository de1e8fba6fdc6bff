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
The report's data comes from :mod:`reports.month_data`, the table and CSV
from :mod:`reports.month_tables`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from reports.explain import DEFAULT_CLAIM_EMAIL, ReportSettings
from reports.month_data import CLAIM_SUBJECT, CLAIM_WINDOW, report_data
from reports.month_tables import _render_csv, _render_table
from sla.model import JSON

FORMATS = ("table", "json", "jsonl", "csv", "html")
AUDIENCES = ("internal", "customer")
#: the SLA's claim address, the default of ``ReportSettings.claim_email``
CLAIM_EMAIL = DEFAULT_CLAIM_EMAIL


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
    "CLAIM_WINDOW",
    "FORMATS",
    "fetch_report_inputs",
    "render_report",
    "report_data",
]
