"""Pure mapping from pipeline outputs to ClickHouse rows (no I/O).

Every function here is a function of its arguments only: the same output
always gives the same rows, in the same order, so a retried batch carries
the same content and therefore the same insert deduplication token
(:func:`sinks.buffer.batch_token`). The tables and their column lists are
:mod:`sinks.tables`'s. Raw events and dead letters are
mapped by :mod:`sinks.lineage`.

Versions: a ReplacingMergeTree keeps, per sorting key, the row with the
highest ``version``. A statement's version is ``revision << 42 | computed_at``
in epoch milliseconds (which fit in 42 bits until the year 2109), so a
higher revision always wins and, within a revision, the later computation
wins. A claim decision's version is built the same way from its own
revision (0 when it has none). Outputs without a revision (ticket verdicts,
ticket alerts, support months) use revision 0: the later computation wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.codec import dumps_output
from sinks.tables import (
    CLAIM_DECISIONS,
    CONTRACT_MONTHS,
    MINUTE_STATES,
    SERVICE_MONTHS,
    SUPPORT_MONTHS,
    TICKET_ALERTS,
    TICKET_VERDICTS,
    WRITE_ORDER,
)
from sla.results import ServiceMonth, read_contract_month, read_service_month
from sla.timeutil import parse_instant

Row = tuple[Any, ...]

_REVISION_SHIFT = 42


def month_date(month: str) -> date:
    """``YYYY-MM`` as the first day of that month."""
    year, mon = month.split("-")
    return date(int(year), int(mon), 1)


def version_of(revision: int, computed_at: datetime) -> int:
    """The ReplacingMergeTree version of a statement (see module docstring)."""
    millis = int(computed_at.timestamp() * 1000)
    return (revision << _REVISION_SHIFT) | millis


def contract_month_row(out: Mapping[str, Any]) -> Row:
    """The ``contract_months`` row of a ``contract_month`` statement."""
    st = read_contract_month(out)
    return (
        st.contract_id,
        st.client_id,
        month_date(st.month),
        st.revision,
        st.status,
        st.contract_revision,
        st.timezone,
        st.period_start,
        st.period_end,
        st.minutes_in_month,
        st.down_minutes,
        st.counted_downtime_minutes,
        st.excluded_minutes,
        st.no_data_minutes,
        st.uptime_percent,
        st.meets_target,
        st.credit_percent,
        st.credit_basis,
        list(st.affected_services),
        st.credit_amount,
        st.currency,
        st.computed_at,
        version_of(st.revision, st.computed_at),
        dumps_output(out),
    )


def service_month_row(out: Mapping[str, Any]) -> Row:
    """The ``service_months`` row of a ``service_month`` record."""
    return _service_month_row(read_service_month(out), out)


def _service_month_row(rec: ServiceMonth, out: Mapping[str, Any]) -> Row:
    return (
        rec.service,
        month_date(rec.month),
        rec.revision,
        rec.status,
        rec.timezone,
        rec.minutes_in_month,
        rec.down_minutes,
        rec.counted_downtime_minutes,
        rec.excluded_minutes,
        rec.no_data_minutes,
        rec.uptime_percent,
        rec.meets_target,
        rec.credit_percent,
        rec.computed_at,
        version_of(rec.revision, rec.computed_at),
        dumps_output(out),
    )


def _span(start: datetime, stop: datetime) -> Iterator[datetime]:
    t = start
    step = timedelta(minutes=1)
    while t < stop:
        yield t
        t += step


def minute_state_rows(out: Mapping[str, Any]) -> list[Row]:
    """The non-up minutes of a ``service_month`` record, one row each, by minute."""
    return _minute_state_rows(read_service_month(out))


def _minute_state_rows(rec: ServiceMonth) -> list[Row]:
    """The non-up minutes of a service-month record, one row each, by minute.

    A minute in several interval lists takes the first state of
    counted_down > excluded_down > no_data (a declared outage during a
    monitoring gap is counted down and also has no data).
    """
    version = version_of(rec.revision, rec.computed_at)
    intervals = rec.intervals
    states: dict[datetime, tuple[str, str]] = {}
    for start, end in intervals.counted:
        for m in _span(start, end):
            states.setdefault(m, ("counted_down", ""))
    for ex in intervals.excluded:
        for m in _span(ex.start, ex.end):
            states.setdefault(m, ("excluded_down", ex.cause))
    for start, end in intervals.no_data:
        for m in _span(start, end):
            states.setdefault(m, ("no_data", ""))
    return [(rec.service, m, st, cause, version) for m, (st, cause) in sorted(states.items())]


def claim_decision_row(out: Mapping[str, Any]) -> Row:
    """The ``claim_decisions`` row of a ``claim_decision`` output."""
    computed_at = parse_instant(out["computed_at"])
    total = out.get("credit_total")
    return (
        out["claim_id"],
        out["contract_id"],
        out.get("client_id") or "",
        parse_instant(out["submitted_at"]),
        out["decision"],
        out.get("reason"),
        int(out.get("minutes_accepted") or 0),
        None if total is None else Decimal(total),
        out.get("currency"),
        computed_at,
        version_of(int(out.get("revision") or 0), computed_at),
        dumps_output(out),
    )


def _instant_or_none(text: str | None) -> datetime | None:
    return None if text is None else parse_instant(text)


def _decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def ticket_verdict_row(out: Mapping[str, Any]) -> Row:
    """The ``ticket_verdicts`` row of a ``ticket_verdict`` output."""
    computed_at = parse_instant(out["computed_at"])
    return (
        out["ticket_id"],
        out["client_id"],
        out["severity"],
        parse_instant(out["opened_at"]),
        parse_instant(out["deadline"]),
        parse_instant(out["at_risk_at"]),
        _instant_or_none(out.get("responded_at")),
        out["status"],
        out["policy"],
        _decimal_or_none(out.get("response_business_minutes")),
        computed_at,
        version_of(0, computed_at),
        dumps_output(out),
    )


def support_month_row(out: Mapping[str, Any]) -> Row:
    """The ``support_months`` row of a ``support_month`` output."""
    computed_at = parse_instant(out["computed_at"])
    return (
        out["client_id"],
        month_date(out["month"]),
        out["severity"],
        int(out["met"]),
        int(out["breached"]),
        int(out["open"]),
        int(out["at_risk"]),
        int(out["responded"]),
        _decimal_or_none(out.get("p50_business_minutes")),
        _decimal_or_none(out.get("p90_business_minutes")),
        _decimal_or_none(out.get("p95_business_minutes")),
        computed_at,
        version_of(0, computed_at),
        dumps_output(out),
    )


def ticket_alert_row(out: Mapping[str, Any]) -> Row:
    """The ``ticket_alerts`` row of a ``ticket_alert`` output."""
    computed_at = parse_instant(out["computed_at"])
    return (
        out["ticket_id"],
        out["alert"],
        out["client_id"],
        out["severity"],
        out["policy"],
        parse_instant(out["opened_at"]),
        parse_instant(out["deadline"]),
        parse_instant(out["at"]),
        computed_at,
        version_of(0, computed_at),
        dumps_output(out),
    )


def rows_for_output(out: Mapping[str, Any]) -> dict[str, list[Row]]:
    """Rows per table for one output dict; unknown kinds map to nothing.

    Raises ``KeyError``/``ValueError`` when an output of a known kind lacks a
    field or has a malformed one (:class:`sla.results.ResultError` for the
    month outputs): outputs come from the core, so that is a bug.
    """
    kind = out.get("kind")
    if kind == "contract_month":
        return {CONTRACT_MONTHS: [contract_month_row(out)]}
    if kind == "service_month":
        rec = read_service_month(out)
        return {
            MINUTE_STATES: _minute_state_rows(rec),
            SERVICE_MONTHS: [_service_month_row(rec, out)],
        }
    if kind == "claim_decision":
        return {CLAIM_DECISIONS: [claim_decision_row(out)]}
    if kind == "ticket_verdict":
        return {TICKET_VERDICTS: [ticket_verdict_row(out)]}
    if kind == "ticket_alert":
        return {TICKET_ALERTS: [ticket_alert_row(out)]}
    if kind == "support_month":
        return {SUPPORT_MONTHS: [support_month_row(out)]}
    return {}


def rows_for_outputs(outputs: Iterable[Mapping[str, Any]]) -> dict[str, list[Row]]:
    """Rows per table for many outputs, tables in :data:`WRITE_ORDER`."""
    tables: dict[str, list[Row]] = {t: [] for t in WRITE_ORDER}
    for out in outputs:
        for table, rows in rows_for_output(out).items():
            tables[table].extend(rows)
    return {t: rows for t, rows in tables.items() if rows}


__all__ = [
    "Row",
    "claim_decision_row",
    "contract_month_row",
    "dumps_output",
    "minute_state_rows",
    "rows_for_output",
    "rows_for_outputs",
    "service_month_row",
    "support_month_row",
    "ticket_alert_row",
    "ticket_verdict_row",
    "version_of",
]
