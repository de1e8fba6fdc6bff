"""What the store holds, read back for people: listings and single records.

Every function takes an open :class:`~sinks.store.ClickHouseStore` and
returns JSON records with the field names and types of the pipeline's own
outputs (what ``availability replay`` prints and the store keeps in its JSON
columns). Fields are projected from that JSON with ``JSONExtractRaw``, never
rebuilt from the typed columns, so a decimal string stays the exact string
the core produced (``"99.9371"``, ``"0.00"``) and a count stays an integer.

Latest means what billing would read: the highest revision of a
contract-month (the later computation of one revision), the latest decision
of a claim, the latest verdict of a ticket. Contracts are known from two
places: the statements computed for them (replay and the worker) and the
contract events of the ``raw_events`` audit trail (the worker); the highest
revision found in either is the one listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from schemas.codec import decode
from schemas.domain import contract as domain_contract
from schemas.events import ContractEvent, latest
from sinks import rows as rw
from sinks.store import ClickHouseStore
from sla.credit import format_decimal, format_money
from sla.model import CAUSE_PRECEDENCE, JSON, Contract

#: The fields of a ``statements list`` record (names and types as in the statement).
STATEMENT_FIELDS = (
    "contract_id",
    "client_id",
    "month",
    "timezone",
    "status",
    "revision",
    "contract_revision",
    "minutes_in_month",
    "down_minutes",
    "counted_downtime_minutes",
    "excluded_minutes",
    "no_data_minutes",
    "elapsed_minutes",
    "remaining_minutes",
    "data_minutes",
    "coverage_percent",
    "uptime_percent",
    "uptime_target",
    "meets_target",
    "credit_percent",
    "credit_basis",
    "credit_amount",
    "currency",
    "computed_at",
)

#: The fields of a ``claims list`` record (as in the claim decision).
CLAIM_FIELDS = (
    "claim_id",
    "contract_id",
    "client_id",
    "submitted_at",
    "decision",
    "reason",
    "minutes_accepted",
    "credit_total",
    "currency",
    "revision",
    "computed_at",
)

#: The fields of a ``tickets list`` record (as in the ticket verdict).
TICKET_FIELDS = (
    "ticket_id",
    "client_id",
    "severity",
    "status",
    "opened_at",
    "deadline",
    "responded_at",
    "response_business_minutes",
    "policy",
    "computed_at",
)

#: The terms a ``contracts list`` record carries, as a statement states them.
TERM_FIELDS = (
    "currency",
    "timezone",
    "uptime_target",
    "credit_tiers",
    "credit_basis",
    "excluded_causes",
    "no_data_policy",
    "declared_outage_counts",
)

STATEMENT_STATUSES = ("provisional", "final", "revised")
CLAIM_DECISIONS = ("accepted", "rejected")
TICKET_STATUSES = ("open", "at_risk", "met", "breached")


def _project(column: str, fields: Sequence[str]) -> str:
    return ", ".join(f"JSONExtractRaw({column}, '{f}')" for f in fields)


def _records(store: ClickHouseStore, sql: str, params: JSON, fields: Sequence[str]) -> list[JSON]:
    res = store.client.query(sql, parameters=params)
    # an absent field extracts as '' (null); anything else is the output's own JSON text
    return [
        {f: (json.loads(cell) if cell else None) for f, cell in zip(fields, row, strict=True)}
        for row in res.result_rows
    ]


def _where(clauses: Iterable[tuple[str, str, Any]]) -> tuple[str, JSON]:
    """``WHERE`` text and parameters of ``(sql, name, value)`` clauses whose value is set."""
    parts, params = ["1"], {}
    for sql, name, value in clauses:
        if value is not None:
            parts.append(sql)
            params[name] = value
    return " AND ".join(parts), params


def statements(
    store: ClickHouseStore,
    contract_id: str | None = None,
    month: str | None = None,
    status: str | None = None,
    client_id: str | None = None,
    all_revisions: bool = False,
) -> list[JSON]:
    """The contract-months of the store, by contract then month, as :data:`STATEMENT_FIELDS`.

    One record per contract-month, its latest revision (``all_revisions``:
    every revision, oldest first). ``status`` keeps the records whose
    revision (the latest one unless ``all_revisions``) has that status;
    ``month`` is ``YYYY-MM`` in the contract's timezone.
    """
    where, params = _where(
        (
            ("contract_id = {c:String}", "c", contract_id),
            ("client_id = {cl:String}", "cl", client_id),
            ("month = {m:Date}", "m", None if month is None else rw.month_date(month)),
        )
    )
    latest = "" if all_revisions else "LIMIT 1 BY contract_id, month"
    status_sql = "1" if status is None else "status = {s:String}"
    if status is not None:
        params["s"] = status
    sql = (
        f"SELECT {_project('statement', STATEMENT_FIELDS)} FROM ("
        f"SELECT contract_id, month, revision, status, statement "
        f"FROM {store.db}.contract_months FINAL WHERE {where} "
        f"ORDER BY contract_id, month, revision DESC {latest}) "
        f"WHERE {status_sql} ORDER BY contract_id, month, revision"
    )
    return _records(store, sql, params, STATEMENT_FIELDS)


def statement(
    store: ClickHouseStore, contract_id: str, month: str, revision: int | None = None
) -> JSON | None:
    """One whole contract-month statement as the pipeline output it (``None``: not stored).

    The latest revision, or revision ``revision``.
    """
    if revision is None:
        return store.latest_contract_month(contract_id, month)
    res = store.client.query(
        f"SELECT statement FROM {store.db}.contract_months FINAL "
        "WHERE contract_id = {c:String} AND month = {m:Date} AND revision = {r:UInt32}",
        parameters={"c": contract_id, "m": rw.month_date(month), "r": revision},
    )
    found: list[JSON] = [json.loads(row[0]) for row in res.result_rows]
    return found[0] if found else None


def revisions(store: ClickHouseStore, contract_id: str, month: str) -> list[int]:
    """The revisions stored for a contract-month, lowest first."""
    res = store.client.query(
        f"SELECT DISTINCT revision FROM {store.db}.contract_months "
        "WHERE contract_id = {c:String} AND month = {m:Date} ORDER BY revision",
        parameters={"c": contract_id, "m": rw.month_date(month)},
    )
    return [int(row[0]) for row in res.result_rows]


def claims(
    store: ClickHouseStore,
    contract_id: str | None = None,
    decision: str | None = None,
    client_id: str | None = None,
) -> list[JSON]:
    """The latest decision of every claim, by submission then claim id, as :data:`CLAIM_FIELDS`."""
    where, params = _where(
        (
            ("contract_id = {c:String}", "c", contract_id),
            ("client_id = {cl:String}", "cl", client_id),
            ("decision = {d:String}", "d", decision),
        )
    )
    sql = (
        f"SELECT {_project('decision_json', CLAIM_FIELDS)} "
        f"FROM {store.db}.claim_decisions FINAL WHERE {where} "
        "ORDER BY submitted_at, claim_id, contract_id"
    )
    return _records(store, sql, params, CLAIM_FIELDS)


def claim(store: ClickHouseStore, claim_id: str, contract_id: str | None = None) -> list[JSON]:
    """The latest decision of ``claim_id``: one per contract it was made against.

    Claim ids are the claimant's; the same id on two contracts is two claims,
    so the caller decides what more than one record means.
    """
    where, params = _where(
        (("claim_id = {k:String}", "k", claim_id), ("contract_id = {c:String}", "c", contract_id))
    )
    res = store.client.query(
        f"SELECT decision_json FROM {store.db}.claim_decisions FINAL WHERE {where} "
        "ORDER BY contract_id",
        parameters=params,
    )
    return [json.loads(row[0]) for row in res.result_rows]


def tickets(
    store: ClickHouseStore,
    client_id: str | None = None,
    month: str | None = None,
    status: str | None = None,
    severity: str | None = None,
) -> list[JSON]:
    """The latest verdict of every ticket, by opening then id, as :data:`TICKET_FIELDS`.

    ``month`` (``YYYY-MM``) keeps the tickets opened in that UTC month.
    """
    where, params = _where(
        (
            ("client_id = {cl:String}", "cl", client_id),
            ("toStartOfMonth(opened_at) = {m:Date}", "m", month and rw.month_date(month)),
            ("status = {s:String}", "s", status),
            ("severity = {sv:String}", "sv", severity),
        )
    )
    sql = (
        f"SELECT {_project('verdict', TICKET_FIELDS)} FROM ("
        "SELECT ticket_id, argMax(verdict, version) AS verdict, "
        "argMax(opened_at, version) AS opened_at, argMax(client_id, version) AS client_id, "
        "argMax(status, version) AS status, argMax(severity, version) AS severity "
        f"FROM {store.db}.ticket_verdicts GROUP BY ticket_id) "
        f"WHERE {where} ORDER BY opened_at, ticket_id"
    )
    return _records(store, sql, params, TICKET_FIELDS)


def terms_of(contract: Contract) -> JSON:
    """A contract revision's terms, every default resolved, formatted as statements do."""
    return {
        "currency": contract.currency,
        "timezone": contract.timezone,
        "uptime_target": format_decimal(contract.uptime_target),
        "credit_tiers": [
            {"below": format_decimal(t.below), "credit_percent": format_decimal(t.credit_percent)}
            for t in contract.credit_tiers
        ],
        "credit_basis": contract.credit_basis.value,
        "excluded_causes": [c.value for c in CAUSE_PRECEDENCE if c in contract.excluded_causes],
        "no_data_policy": contract.no_data_policy.value,
        "declared_outage_counts": contract.declared_outage_counts,
    }


def _stated_contracts(store: ClickHouseStore, contract_id: str | None) -> dict[str, JSON]:
    """Per contract: its terms as its statement of the highest contract revision states them."""
    where, params = _where((("contract_id = {c:String}", "c", contract_id),))
    fields = ("contract_id", "client_id", "contract_revision", *TERM_FIELDS, "services")
    sql = (
        f"SELECT {_project('statement', fields)}, toString(first), toString(last), n FROM ("
        "SELECT contract_id, argMax(statement, (contract_revision, month, revision, version)) "
        "AS statement, min(month) AS first, max(month) AS last, uniqExact(month) AS n "
        f"FROM {store.db}.contract_months WHERE {where} GROUP BY contract_id)"
    )
    out: dict[str, JSON] = {}
    for row in store.client.query(sql, parameters=params).result_rows:
        rec = {f: json.loads(cell) if cell else None for f, cell in zip(fields, row, strict=False)}
        first, last, n = row[len(fields) :]
        cid = str(rec["contract_id"])
        out[cid] = {
            "contract_id": cid,
            "client_id": rec["client_id"],
            "revision": rec["contract_revision"],
            **{f: rec[f] for f in TERM_FIELDS},
            "services": {s: v["monthly_charge"] for s, v in (rec["services"] or {}).items()},
            "months_stated": int(n),
            "first_month": str(first)[:7],
            "last_month": str(last)[:7],
        }
    return out


def contract_events(store: ClickHouseStore, contract_id: str | None = None) -> list[ContractEvent]:
    """Every valid contract event of the ``raw_events`` audit trail (once per ``event_id``)."""
    res = store.client.query(
        f"SELECT any(raw) FROM {store.db}.raw_events WHERE type = 'contract' GROUP BY event_id"
    )
    found: list[ContractEvent] = []
    for (raw,) in res.result_rows:
        ev = decode(raw if isinstance(raw, bytes) else str(raw).encode())
        if isinstance(ev, ContractEvent) and contract_id in (None, ev.contract_id):
            found.append(ev)
    return found


def contracts(store: ClickHouseStore, contract_id: str | None = None) -> list[JSON]:
    """The contracts the store knows, by id: the latest revision and its terms.

    A revision recorded in the audit trail but not stated yet (or never, as
    for a contract whose months have not begun) wins over the statements'
    when it is higher; ``months_stated``, ``first_month`` and ``last_month``
    say which months have statements (0 and ``None`` when none has).
    """
    known = _stated_contracts(store, contract_id)
    by_id: dict[str, list[ContractEvent]] = {}
    for ev in contract_events(store, contract_id):
        by_id.setdefault(ev.contract_id, []).append(ev)
    for cid, history in by_id.items():
        top = latest(history)
        stated = known.get(cid)
        if top is None or (stated is not None and stated["revision"] >= top.revision):
            continue
        c = domain_contract(top)
        known[cid] = {
            "contract_id": cid,
            "client_id": c.client_id,
            "revision": c.revision,
            **terms_of(c),
            "services": {s.service: format_money(s.monthly_charge, c.currency) for s in c.services},
            "months_stated": 0 if stated is None else stated["months_stated"],
            "first_month": None if stated is None else stated["first_month"],
            "last_month": None if stated is None else stated["last_month"],
        }
    return [known[k] for k in sorted(known)]


__all__ = [
    "CLAIM_DECISIONS",
    "CLAIM_FIELDS",
    "STATEMENT_FIELDS",
    "STATEMENT_STATUSES",
    "TERM_FIELDS",
    "TICKET_FIELDS",
    "TICKET_STATUSES",
    "claim",
    "claims",
    "contract_events",
    "contracts",
    "revisions",
    "statement",
    "statements",
    "terms_of",
    "tickets",
]
