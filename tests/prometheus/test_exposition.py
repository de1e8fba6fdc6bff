"""The text the worker serves is byte for byte what the client library makes of the same scrape.

:meth:`AvailabilityCollector.exposition` writes the families without a
sample object per series (:mod:`sinks.metrics.exposition`); the library's
``generate_latest`` over a registry holding the same collector is the
reference. Two collectors are fed the same states in the same order, so
their counters kept across scrapes agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from devkit.book_of_business import month_with_book
from fold.replay import ReplayResult, iter_lines, replay_lines
from sinks import metrics as m
from sinks.metrics import (
    AvailabilityCollector,
    PipelineState,
    PipelineStats,
    ReplayState,
    StateSnapshot,
)
from sinks.metrics.exposition import Rows, scrape_family, write
from sinks.metrics.families import _LABELS
from sla.months import month_bounds
from sla.timeutil import minute_start
from tests.prometheus.conftest import NOW

#: every part of the pipeline's families, histograms and reordered labels included
STATS = PipelineStats(
    events_by_type={"probe": 12, "incident": 2},
    dead_letters_by_reason={"invalid_json": 1},
    late_events=3,
    sink_errors={"clickhouse": 1},
    sink_rows_written={"contract_months": 4},
    sink_retries={"clickhouse": 2},
    sink_batches={"clickhouse": 5},
    sink_insert_seconds={"clickhouse": 0.125},
    consumer_lag={("availability.probes", 0): 12, ("availability.probes", 1): 3},
    last_event_unixtime=1_773_532_800.5,
    degraded=frozenset({"consumer_lag"}),
    loop_lag_buckets=((0.01, 3), (0.1, 5), (float("inf"), 6)),
    loop_lag_sum=0.75,
    statement_delay_buckets=((1.0, 2), (float("inf"), 2)),
    statement_delay_sum=1.5,
    unreadable_state=1,
)


def _pair(
    state: PipelineState, now: datetime, count_history: bool
) -> tuple[AvailabilityCollector, AvailabilityCollector, CollectorRegistry]:
    """Our collector, and the library's registry over a twin of it."""
    ours = AvailabilityCollector(state, lambda: now, count_history=count_history)
    twin = AvailabilityCollector(state, lambda: now, count_history=count_history)
    registry = CollectorRegistry()
    registry.register(twin)
    return ours, twin, registry


@pytest.mark.parametrize("count_history", [True, False])
def test_the_small_month_scrapes_the_same(small_replay: ReplayResult, count_history: bool) -> None:
    state = ReplayState(small_replay, pipeline=STATS)
    ours, _, registry = _pair(state, NOW, count_history)
    for _ in range(2):
        text = ours.exposition()
        assert text == generate_latest(registry)
    assert b"availability_support_first_response_business_seconds_bucket{" in text
    assert b'availability_consumer_lag_messages{partition="0",topic="availability.probes"}' in text


def test_a_book_scrapes_the_same_as_it_changes() -> None:
    """300 contracts early in their month, late in it and after it; revisions between scrapes."""
    scenario, lines = month_with_book(services=3, contracts=300)
    first, end = month_bounds(scenario.month)
    seen: list[int] = []
    for now in (
        minute_start(first) + timedelta(days=1),
        minute_start(first) + timedelta(days=20, minutes=7),
        minute_start(end) + timedelta(hours=1),
    ):
        outputs = list(replay_lines(iter_lines(lines), now).outputs)
        ours, twin, registry = _pair(StateSnapshot(outputs, STATS), now, count_history=False)
        assert ours.exposition() == generate_latest(registry)
        # a tenth of the statements revised: counters and gauges move in both
        statements = [i for i, o in enumerate(outputs) if o["kind"] == "contract_month"]
        for i in statements[::10]:
            outputs[i] = {**outputs[i], "revision": int(outputs[i]["revision"]) + 2}
        ours.state = twin.state = StateSnapshot(outputs, STATS)
        text = ours.exposition()
        assert text == generate_latest(registry)
        seen.append(text.count(b"\navailability_contract_uptime_ratio{"))
    # each scrape held a book's worth of current months (after the month: the next one's)
    assert min(seen) > 250, seen


ODD_LABELS = ["", "PO-1", 'quote"d', "back\\slash", "new\nline", 'all\\"\n', "ünï €", "%s %d"]
ODD_VALUES = [0, -0.0, 1, 7, 0.1, 1 / 3, 123456789.0, 1e16, 1.5e-7, -2.5, math.inf, -math.inf]


@pytest.mark.parametrize(
    "name",
    [
        m.CONTRACT_TIER_HEADROOM_MINUTES,  # labels written in another order than declared
        m.CONTRACT_UPTIME_RATIO,  # in order
        m.CONTRACT_MINUTES_TOTAL,  # a counter
        m.LATE_EVENTS_TOTAL,  # no labels
    ],
)
def test_odd_labels_and_values_are_written_as_the_library_writes_them(name: str) -> None:
    rows = scrape_family(name)
    assert isinstance(rows, Rows)
    arity = len(_LABELS[name])
    for i, label in enumerate(ODD_LABELS):
        for value in ODD_VALUES:
            # odd values in a label that keeps its place and in one that moves
            rows.add_metric([label, f"m{i}", label[::-1]][:arity], value)
    rows.add_metric([ODD_LABELS[2]] * arity, math.nan)
    want, samples = generate_latest(_Library(rows)), len(rows.rows)
    text = write([rows])
    assert text == want
    assert text.count(b"\n") == 2 + samples
    assert rows.rows == []  # written, then let go


class _Library(Collector):
    """The library's family of a :class:`Rows`, as a registry would hold it."""

    def __init__(self, rows: Rows) -> None:
        self._rows = rows

    def collect(self) -> Iterable[Metric]:
        return [self._rows.family()]
