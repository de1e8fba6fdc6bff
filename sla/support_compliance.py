"""Monthly first-response compliance per client, month and severity (rulebook section 8).

Re-exported by :mod:`sla.support`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from sla.business_clock import SEVERITIES, BusinessCalendar, Severity
from sla.support_verdict import TicketVerdict

PERCENTILES: Final = (50, 90, 95)


@dataclass(frozen=True)
class ComplianceRow:
    """Monthly first-response compliance of one client and severity.

    ``month`` is ``YYYY-MM`` of ``opened_at`` in the calendar's timezone;
    ``open`` counts open and at-risk tickets (``at_risk`` is the at-risk
    subset). Percentiles are nearest-rank over the business-minute response
    times of responded tickets (met or breached), exact; None without any.
    """

    client_id: str
    month: str
    severity: Severity
    met: int
    breached: int
    open: int
    at_risk: int
    responded: int
    p50_business_minutes: Fraction | None
    p90_business_minutes: Fraction | None
    p95_business_minutes: Fraction | None


def nearest_rank(sorted_values: Sequence[Fraction], percent: int) -> Fraction | None:
    """Nearest-rank percentile: the value at rank ``ceil(percent / 100 * n)`` (1-based)."""
    if not sorted_values:
        return None
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    rank = -(-percent * len(sorted_values) // 100)
    return sorted_values[rank - 1]


def monthly_compliance(
    verdicts: Iterable[TicketVerdict], calendar: BusinessCalendar
) -> list[ComplianceRow]:
    """Compliance rows per (client, month of ``opened_at``, current severity), sorted by key.

    Every client and month with a ticket gets a row for each severity, with
    zeros where it has none: a ticket whose severity changes moves to
    another row, and the row it left must be replaced by an empty one (in a
    compacted topic or a table keyed by client, month and severity), not
    left behind with the old counts.
    """
    tz = calendar.tz
    groups: defaultdict[tuple[str, str, Severity], list[TicketVerdict]] = defaultdict(list)
    for verdict in verdicts:
        month = verdict.opened_at.astimezone(tz).strftime("%Y-%m")
        for severity in SEVERITIES:
            groups[(verdict.client_id, month, severity)]
        groups[(verdict.client_id, month, verdict.severity)].append(verdict)

    rows: list[ComplianceRow] = []
    for (client_id, month, severity), members in sorted(groups.items()):
        times = sorted(
            v.response_business_minutes for v in members if v.response_business_minutes is not None
        )
        p50, p90, p95 = (nearest_rank(times, p) for p in PERCENTILES)
        rows.append(
            ComplianceRow(
                client_id=client_id,
                month=month,
                severity=severity,
                met=sum(v.status == "met" for v in members),
                breached=sum(v.status == "breached" for v in members),
                open=sum(v.status in ("open", "at_risk") for v in members),
                at_risk=sum(v.status == "at_risk" for v in members),
                responded=len(times),
                p50_business_minutes=p50,
                p90_business_minutes=p90,
                p95_business_minutes=p95,
            )
        )
    return rows
