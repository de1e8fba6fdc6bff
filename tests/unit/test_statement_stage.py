"""The statement stage publishes what changed in more than its coverage first."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from sla.months import Month, month_bounds
from sla.probes import DOWN, NO_DATA, UP, MinuteStates
from sla.timeutil import epoch_minute
from streams import topics
from streams.pipeline import StatementStage
from tests.helpers import contract

MONTH = Month(2026, 3)
NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def _states(service: str, array: np.ndarray, version: int) -> tuple[str, bytes, dict[str, object]]:
    first, _ = month_bounds(MONTH)
    head = json.dumps({"service": service, "month": str(MONTH)}).encode()
    raw = head + b"\n" + MinuteStates(first, array.copy(), version).to_bytes()
    return topics.MINUTE_STATES.name, raw, {"topic": topics.MINUTE_STATES.name}


def _contract(cid: str, service: str) -> tuple[str, bytes, dict[str, object]]:
    raw = json.dumps(contract(cid, services={service: "1000.00"})).encode()
    return topics.CONTRACTS.name, raw, {"topic": topics.CONTRACTS.name}


def test_a_real_change_is_published_before_coverage_republications() -> None:
    stage = StatementStage({}, {})
    stage.coverage_step = 1  # every minute recomputed: coverage changes show at once
    stage.reset()
    first, end = month_bounds(MONTH)
    now = epoch_minute(NOW) - first
    api = np.full(end - first, NO_DATA, np.int8)
    api[:now] = UP
    api[now - 60] = NO_DATA  # one silent minute an hour ago
    web = np.full(end - first, NO_DATA, np.int8)
    web[:now] = UP
    assert stage.process([_contract("PO-1", "api"), _contract("PO-2", "web")]) == []
    assert stage.process([_states("api", api, 1), _states("web", web, 1)]) == []
    stage.refresh(NOW, mono=0.0)
    first_round = stage.ready_outputs(mono=0.0)
    stage.confirm([o for _, o in first_round])
    assert {o["contract_id"] for _, o in first_round if o["kind"] == "contract_month"} == {
        "PO-1",
        "PO-2",
    }
    # later: api's silent minute gets its data (coverage only), web goes down (a real
    # change); PO-1 comes first in key order, yet PO-2's downtime is published first
    api[now - 60] = UP
    web[now - 30] = DOWN
    assert stage.process([_states("api", api, 2), _states("web", web, 2)]) == []
    later = stage.coverage_interval + 1
    stage.refresh(NOW, mono=later)
    (only,) = stage.ready_outputs(mono=later, limit=1)
    assert only[1]["kind"] == "contract_month"
    assert only[1]["contract_id"] == "PO-2"
    assert only[1]["counted_downtime_minutes"] == 1
    stage.confirm([only[1]])
    rest = stage.ready_outputs(mono=later)
    stage.confirm([o for _, o in rest])
    assert ("contract_month", "PO-1") in {(o["kind"], o.get("contract_id")) for _, o in rest}
