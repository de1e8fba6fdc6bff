"""Stages and workers for the emit-cycle tests (revocation, statement delay): no broker.

:func:`folded_stage` is a statement stage that folded a book of contracts over
one service and its month of minute states; :func:`stub_worker` is a worker
whose sends go to a callable of the test and whose producer flush returns at
once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sla.months import Month, month_bounds
from sla.probes import NO_DATA, UP, MinuteStates
from sla.timeutil import epoch_minute
from streams import topics
from streams.app import Worker, WorkerConfig
from streams.messages import Outgoing
from streams.statementstage import StatementStage
from tests.helpers import contract

MONTH = Month(2026, 3)
NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def folded_stage(contracts: int, events: dict[str, bytes] | None = None) -> StatementStage:
    """A stage that folded ``contracts`` contracts and ``api``'s month up to :data:`NOW`.

    Not recomputed yet. ``events`` is its table of events (a dict), kept for a
    stage made anew from it.
    """
    stage = StatementStage({} if events is None else events, {})
    first, end = month_bounds(MONTH)
    api = np.full(end - first, NO_DATA, np.int8)
    api[: epoch_minute(NOW) - first] = UP
    head = json.dumps({"service": "api", "month": str(MONTH)}).encode()
    states = head + b"\n" + MinuteStates(first, api, 1).to_bytes()
    items: list[tuple[str, bytes, dict[str, Any]]] = [
        (topics.CONTRACTS.name, json.dumps(contract(f"PO-{i:04d}")).encode(), {})
        for i in range(contracts)
    ]
    stage.process([*items, (topics.MINUTE_STATES.name, states, {})])
    return stage


def stub_worker(
    send: Callable[[list[Outgoing]], Coroutine[Any, Any, list[Any]]], *, at_now: bool = False
) -> Worker:
    """A worker whose outputs go to ``send`` (no broker).

    With ``at_now`` its clock stands at :data:`NOW` and it owns statement partition 0.
    """
    cfg = WorkerConfig(bootstrap="localhost:9092", web_enabled=False)
    if at_now:
        cfg.clock = lambda: NOW
    worker = Worker(cfg)

    async def flushed() -> None:
        return None

    worker._send = send  # type: ignore[method-assign, assignment]
    worker.app.producer.flush = flushed  # type: ignore[method-assign]
    if at_now:
        worker._owned = lambda: [0]  # type: ignore[method-assign]
    return worker
