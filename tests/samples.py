"""Month outputs as the wire writes them, whole, for tests that need one to read.

:func:`statement` is a final contract-month statement of one service, 50
minutes down; :func:`service_month` is that service's record of the month;
:func:`ticket_verdict` a high-severity ticket answered in time.
Each call gives a new copy to change.
"""

from __future__ import annotations

import copy

from sla.model import JSON

#: a final statement of one service and one contract, 50 minutes down
STATEMENT: JSON = {
    "kind": "contract_month",
    "contract_id": "PO-9",
    "client_id": "acme",
    "contract_revision": 0,
    "month": "2026-03",
    "timezone": "UTC",
    "period_start": "2026-03-01T00:00:00Z",
    "period_end": "2026-04-01T00:00:00Z",
    "minutes_in_month": 44640,
    "up_minutes": 44590,
    "down_minutes": 50,
    "counted_downtime_minutes": 50,
    "excluded_minutes": {},
    "no_data_minutes": 0,
    "elapsed_minutes": 44640,
    "remaining_minutes": 0,
    "data_minutes": 44640,
    "coverage_percent": "100.0000",
    "uptime_percent": "99.8879",
    "uptime_target": "99.9",
    "credit_tiers": [{"below": "99.9", "credit_percent": "10"}],
    "meets_target": False,
    "error_budget_minutes": 44,
    "error_budget_remaining_minutes": -6,
    "credit_percent": "10",
    "credit_basis": "platform",
    "excluded_causes": ["force_majeure", "aws"],
    "no_data_policy": "up",
    "declared_outage_counts": True,
    "affected_services": ["api"],
    "credit_amount": "100.00",
    "currency": "GBP",
    "downtime_incidents": [
        {
            "service": "api",
            "start": "2026-03-10T00:00:00Z",
            "end": "2026-03-10T00:50:00Z",
            "duration_minutes": 50,
            "causes": ["internal"],
            "incident_ids": ["INC-1"],
        }
    ],
    "excluded_periods": [],
    "services": {
        "api": {
            "monthly_charge": "1000.00",
            "up_minutes": 44590,
            "down_minutes": 50,
            "counted_downtime_minutes": 50,
            "excluded_minutes": {},
            "no_data_minutes": 0,
            "uptime_percent": "99.8879",
            "coverage_percent": "100.0000",
            "meets_target": False,
            "credit_percent": "10",
            "credit_amount": "100.00",
            "no_data_periods": [],
        }
    },
    "readings": [],
    "status": "final",
    "revision": 0,
    "finalizes_at": "2026-04-03T23:00:00Z",
    "computed_at": "2026-04-11T00:00:00Z",
    "incidents": [],
}


def statement() -> JSON:
    """A copy of :data:`STATEMENT` to change."""
    return copy.deepcopy(STATEMENT)


#: the fields a service-month record shares with the statement's figures of its service
_SERVICE_MONTH_FIGURES = (
    "up_minutes",
    "down_minutes",
    "counted_downtime_minutes",
    "excluded_minutes",
    "no_data_minutes",
    "uptime_percent",
    "coverage_percent",
    "meets_target",
    "credit_percent",
)


def service_month() -> JSON:
    sample = statement()
    return {
        "kind": "service_month",
        "service": "api",
        **{k: sample[k] for k in ("month", "timezone", "minutes_in_month", "elapsed_minutes")},
        "remaining_minutes": 0,
        # the one service's minutes and figures, as the statement gives them
        **{k: sample["services"]["api"][k] for k in _SERVICE_MONTH_FIGURES},
        "error_budget_minutes": 44,
        "error_budget_remaining_minutes": -6,
        "downtime_incidents": sample["downtime_incidents"],
        "intervals": {
            "counted": [["2026-03-10T00:00:00Z", "2026-03-10T00:50:00Z"]],
            "excluded": [],
            "no_data": [],
        },
        "status": "final",
        "revision": 0,
        "finalizes_at": "2026-04-03T23:00:00Z",
        "computed_at": "2026-04-11T00:00:00Z",
    }


def ticket_verdict() -> JSON:
    return {
        "kind": "ticket_verdict",
        "ticket_id": "T-1",
        "client_id": "acme",
        "severity": "high",
        "opened_at": "2026-03-10T09:00:00Z",
        "deadline": "2026-03-10T11:00:00Z",
        "at_risk_at": "2026-03-10T10:30:00Z",
        "responded_at": "2026-03-10T10:00:00Z",
        "status": "met",
        "policy": "retroactive",
        "response_business_minutes": "60.00",
        "computed_at": "2026-03-10T12:00:00Z",
    }
