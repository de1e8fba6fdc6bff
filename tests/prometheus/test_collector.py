"""AvailabilityCollector: exact values from replays, each test on a fresh registry."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from fold.replay import ReplayResult
from sinks import metrics as m
from sinks.metrics import (
    AvailabilityCollector,
    MonotonicTotals,
    PipelineStats,
    ReplayState,
    figures,
    render,
)
from sinks.metrics.figures import TypedOutputs
from sla.model import JSON
from sla.results import ContractMonth, ResultError, read_contract_month
from sla.timeutil import parse_instant
from tests.prometheus.collector_cases import MARCH, FakeState, registry_for, statement, value
from tests.prometheus.conftest import NOW


def test_contract_over_budget_by_one_minute(small_replay: ReplayResult) -> None:
    """45 counted minutes of a 31-day month: budget 44, remaining -1, 10 % tier reached."""
    reg, _ = registry_for(ReplayState(small_replay))
    assert value(reg, m.CONTRACT_MONTH_MINUTES, **MARCH) == 44640
    assert value(reg, m.CONTRACT_BUDGET_MINUTES, **MARCH) == 44
    assert value(reg, m.CONTRACT_BUDGET_REMAINING_MINUTES, **MARCH) == -1
    assert value(reg, m.CONTRACT_BUDGET_REMAINING_RATIO, **MARCH) == -1 / 44
    assert value(reg, m.CONTRACT_UPTIME_RATIO, **MARCH) == (44640 - 45) / 44640
    assert value(reg, m.CONTRACT_UPTIME_TARGET_RATIO, **MARCH) == pytest.approx(0.999)
    assert value(reg, m.CONTRACT_MEETS_TARGET, **MARCH) == 0
    # 10 % below 99.9 %: reached. 30 % below 99.0 %: D > 446.4, so 447 - 45 more.
    assert value(reg, m.CONTRACT_TIER_HEADROOM_MINUTES, **MARCH, credit_percent="10") == 0
    assert value(reg, m.CONTRACT_TIER_HEADROOM_MINUTES, **MARCH, credit_percent="30") == 402
    assert value(reg, m.CONTRACT_CREDIT_RATIO, **MARCH) == pytest.approx(0.1)
    assert value(reg, m.CONTRACT_CREDIT_AMOUNT, **MARCH, currency="GBP") == 100.0
    assert value(reg, m.CONTRACT_STATEMENT_REVISION, **MARCH) == 0
    assert value(reg, m.CONTRACT_STATEMENT_STATUS, **MARCH, status="provisional") == 1
    assert value(reg, m.CONTRACT_STATEMENT_STATUS, **MARCH, status="final") == 0


def test_minutes_partition_the_elapsed_month(small_replay: ReplayResult) -> None:
    """14 days elapsed: 75 up, 45 counted, 10 excluded (AWS), the rest without data."""
    reg, _ = registry_for(ReplayState(small_replay))
    states = {s: value(reg, m.CONTRACT_MINUTES, **MARCH, state=s) for s in m.MINUTE_STATES}
    assert states == {"up": 75, "counted_down": 45, "excluded_down": 10, "no_data": 20030}
    assert sum(v or 0 for v in states.values()) == 14 * 1440
    assert value(reg, m.CONTRACT_ELAPSED_MINUTES, **MARCH) == 14 * 1440
    assert value(reg, m.CONTRACT_EXCLUDED_MINUTES, **MARCH, cause="aws") == 10
    api = {"service": "api", "month": "2026-03"}
    assert value(reg, m.SERVICE_MINUTES, **api, state="counted_down") == 45
    assert value(reg, m.SERVICE_BUDGET_REMAINING_MINUTES, **api) == -1


def test_second_contract_keeps_its_currency_and_budget(small_replay: ReplayResult) -> None:
    reg, _ = registry_for(ReplayState(small_replay))
    po2 = {"contract_id": "PO-2", "month": "2026-03"}
    assert value(reg, m.CONTRACT_BUDGET_REMAINING_MINUTES, **po2) == 19
    assert value(reg, m.CONTRACT_BUDGET_REMAINING_RATIO, **po2) == 19 / 44
    assert value(reg, m.CONTRACT_CREDIT_AMOUNT, **po2, currency="USD") == 0.0
    assert value(reg, m.CONTRACT_TIER_HEADROOM_MINUTES, **po2, credit_percent="10") == 20


def test_only_the_current_month_is_exported(small_replay: ReplayResult) -> None:
    """In April no statement contains ``now``: no month-to-date series, counters stay."""
    reg, _ = registry_for(ReplayState(small_replay), now=parse_instant("2026-04-02T00:00:00Z"))
    assert value(reg, m.CONTRACT_UPTIME_RATIO, **MARCH) is None
    assert value(reg, m.SERVICE_UPTIME_RATIO, service="api", month="2026-03") is None
    # The whole of March has elapsed: every minute is in some state.
    total = sum(
        value(reg, m.CONTRACT_MINUTES_TOTAL, contract_id="PO-1", state=s) or 0
        for s in m.MINUTE_STATES
    )
    assert total == 44640


def test_pipeline_stats(small_replay: ReplayResult) -> None:
    stats = PipelineStats(
        events_by_type={"probe": 10, "incident": 2},
        dead_letters_by_reason={"invalid_json": 1},
        late_events=3,
        sink_errors={"clickhouse": 4},
        sink_rows_written={"contract_months": 5},
        consumer_lag={("availability.probes", 2): 7},
        last_event_unixtime=1_773_000_000.5,
        loop_lag_buckets=((0.005, 90), (0.05, 99), (float("inf"), 100)),
        loop_lag_sum=1.25,
        statement_delay_buckets=((1.0, 2), (5.0, 6), (float("inf"), 7)),
        statement_delay_sum=21.5,
        unreadable_state=2,
    )
    reg, _ = registry_for(ReplayState(small_replay, pipeline=stats))
    assert value(reg, m.EVENT_LOOP_LAG_SECONDS + "_bucket", le="0.005") == 90
    assert value(reg, m.EVENT_LOOP_LAG_SECONDS + "_bucket", le="+Inf") == 100
    assert value(reg, m.EVENT_LOOP_LAG_SECONDS + "_count") == 100
    assert value(reg, m.EVENT_LOOP_LAG_SECONDS + "_sum") == 1.25
    assert value(reg, m.STATEMENT_DELAY_SECONDS + "_bucket", le="5.0") == 6
    assert value(reg, m.STATEMENT_DELAY_SECONDS + "_count") == 7
    assert value(reg, m.STATEMENT_DELAY_SECONDS + "_sum") == 21.5
    assert value(reg, m.UNREADABLE_STATE_TOTAL) == 2
    assert value(reg, m.EVENTS_TOTAL, type="incident") == 2
    assert value(reg, m.DEAD_LETTERS_TOTAL, reason="invalid_json") == 1
    assert value(reg, m.LATE_EVENTS_TOTAL) == 3
    assert value(reg, m.SINK_ERRORS_TOTAL, sink="clickhouse") == 4
    assert value(reg, m.SINK_ROWS_WRITTEN_TOTAL, table="contract_months") == 5
    assert value(reg, m.CONSUMER_LAG_MESSAGES, topic="availability.probes", partition="2") == 7
    assert value(reg, m.LAST_EVENT_TIMESTAMP) == 1_773_000_000.5


def test_replay_state_counts_events_and_dead_letters(small_replay: ReplayResult) -> None:
    reg, _ = registry_for(ReplayState(small_replay))
    assert value(reg, m.EVENTS_TOTAL, type="contract") == 2
    assert value(reg, m.EVENTS_TOTAL, type="probe") == 155
    assert value(reg, m.DEAD_LETTERS_TOTAL, reason="invalid_json") == 1
    assert value(reg, m.LAST_EVENT_TIMESTAMP) is None  # no wall clock in a replay


# -- counters -----------------------------------------------------------------------


def counter(reg: CollectorRegistry, state: str) -> float | None:
    return value(reg, m.CONTRACT_MINUTES_TOTAL, contract_id="PO-1", state=state)


def test_counter_starts_at_the_first_scrape_and_grows() -> None:
    """The worker's default: what the state held at the first scrape is the baseline."""
    state = FakeState([statement(counted=30, excluded=0)])
    reg, _ = registry_for(state, count_history=False)
    assert counter(reg, "counted_down") == 0
    state.items = [statement(counted=33, excluded=0)]
    assert counter(reg, "counted_down") == 3


def test_revision_that_lowers_a_count_does_not_lower_the_counter() -> None:
    """Reclassifying 5 minutes to AWS: counted_down stays, excluded_down grows by 5."""
    state = FakeState([statement(counted=10, excluded=0)])
    reg, _ = registry_for(state)
    assert counter(reg, "counted_down") == 10
    state.items = [statement(counted=5, excluded=5)]
    assert counter(reg, "counted_down") == 10
    assert counter(reg, "excluded_down") == 5
    # The gauge tells the revised truth.
    assert value(reg, m.CONTRACT_MINUTES, **MARCH, state="counted_down") == 5
    # New downtime after the revision counts again from the lowered level.
    state.items = [statement(counted=7, excluded=5)]
    assert counter(reg, "counted_down") == 12


def test_revisions_total_counts_revisions_across_months() -> None:
    state = FakeState([statement(counted=1, excluded=0)])
    reg, _ = registry_for(state)
    state.items = [statement(counted=1, excluded=0, revision=2)]
    assert value(reg, m.CONTRACT_REVISIONS_TOTAL, contract_id="PO-1") == 2
    assert value(reg, m.CONTRACT_STATEMENTS, status="revised") == 1


def test_monotonic_totals_forget_evicted_months() -> None:
    totals = MonotonicTotals(count_history=False)
    assert totals.observe({("api", "2026-03", "counted_down"): 40}) == {("api", "counted_down"): 0}
    # March evicted, April new: April counts in full, March's disappearance is no decrease.
    out = totals.observe({("api", "2026-04", "counted_down"): 2})
    assert out == {("api", "counted_down"): 2}


def test_zero_budget_month() -> None:
    """In force for 900 minutes: budget floor(0.9) = 0; untouched ratio 1, then -D."""
    short: dict[str, Any] = {"minutes_in_month": 900, "period_start": "2026-03-31T09:00:00Z"}
    reg, _ = registry_for(
        FakeState([statement(0, 0, **short)]), now=parse_instant("2026-03-31T12:00:00Z")
    )
    assert value(reg, m.CONTRACT_BUDGET_MINUTES, **MARCH) == 0
    assert value(reg, m.CONTRACT_BUDGET_REMAINING_RATIO, **MARCH) == 1.0
    reg, _ = registry_for(
        FakeState([statement(2, 0, **short)]), now=parse_instant("2026-03-31T12:00:00Z")
    )
    assert value(reg, m.CONTRACT_BUDGET_REMAINING_RATIO, **MARCH) == -2.0


def test_tiers_come_from_the_statement() -> None:
    tiers = [{"below": "99.5", "credit_percent": "5"}, {"below": "98", "credit_percent": "25"}]
    reg, _ = registry_for(FakeState([statement(100, 0, credit_tiers=tiers)]))
    # 99.5 %: D > 223.2 -> 224; 98 %: D > 892.8 -> 893.
    assert value(reg, m.CONTRACT_TIER_HEADROOM_MINUTES, **MARCH, credit_percent="5") == 124
    assert value(reg, m.CONTRACT_TIER_HEADROOM_MINUTES, **MARCH, credit_percent="25") == 793
    assert value(reg, m.CONTRACT_TIER_HEADROOM_MINUTES, **MARCH, credit_percent="10") is None
    assert Fraction(44640 - 224, 44640) * 100 < Fraction("99.5")


# -- names ---------------------------------------------------------------------------

_NAME = re.compile(r"^availability_[a-z0-9_]+$")
_UNIT_SUFFIXES = ("_ratio", "_minutes", "_seconds", "_messages", "_total")


def exposed_families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_metric_names_are_the_closed_set(small_replay: ReplayResult) -> None:
    stats = PipelineStats(
        events_by_type={"probe": 1},
        dead_letters_by_reason={"x": 1},
        sink_errors={"kafka": 0},
        sink_rows_written={"t": 0},
        sink_retries={"clickhouse": 0},
        sink_batches={"clickhouse": 0},
        sink_insert_seconds={"clickhouse": 0.0},
        consumer_lag={("t", 0): 0},
        last_event_unixtime=1.0,
        loop_lag_buckets=((0.005, 3), (0.01, 4), (float("inf"), 5)),
        loop_lag_sum=0.5,
        statement_delay_buckets=((1.0, 1), (float("inf"), 1)),
        statement_delay_sum=0.5,
    )
    text = render(ReplayState(small_replay, pipeline=stats), lambda: NOW).decode()
    assert exposed_families(text) == m.METRIC_NAMES
    samples = set(re.findall(r"^(availability_\w+)", text, flags=re.MULTILINE))
    assert samples == m.SERIES_NAMES


def test_metric_names_follow_conventions() -> None:
    for name in m.METRIC_NAMES:
        assert _NAME.match(name), name
        gauge_without_unit = name in {
            m.CONTRACT_MEETS_TARGET,
            m.CONTRACT_CREDIT_AMOUNT,
            m.CONTRACT_STATEMENT_REVISION,
            m.CONTRACT_STATEMENT_STATUS,
            m.CONTRACT_STATEMENTS,
            m.SUPPORT_TICKETS_OPEN,  # tickets
            m.SUPPORT_TICKETS_AT_RISK,
            m.WORKER_DEGRADED,  # 1 or 0, like meets_target
        }
        assert gauge_without_unit or name.endswith(_UNIT_SUFFIXES), name


def test_describe_registers_without_reading_the_state() -> None:
    class Exploding(FakeState):
        def statements(self) -> list[JSON]:
            raise AssertionError("read at registration")

    registry = CollectorRegistry()
    registry.register(AvailabilityCollector(Exploding([]), lambda: NOW))
    with pytest.raises(AssertionError, match="read at registration"):
        registry.get_sample_value(m.CONTRACT_UPTIME_RATIO, MARCH)


def test_latest_revision_wins_when_the_state_repeats_a_month() -> None:
    older: Mapping[str, Any] = statement(50, 0, revision=0)
    newer: Mapping[str, Any] = statement(10, 0, revision=1)
    reg, _ = registry_for(FakeState([dict(newer), dict(older)]))
    assert value(reg, m.CONTRACT_STATEMENT_REVISION, **MARCH) == 1
    assert value(reg, m.CONTRACT_MINUTES, **MARCH, state="counted_down") == 10


# -- support -------------------------------------------------------------------------


# -- reading the state ---------------------------------------------------------------


def _counted_reads(monkeypatch: pytest.MonkeyPatch, field: str) -> list[Any]:
    """Each whole read of a statement from now on, by the value of its ``field``."""
    reads: list[Any] = []

    def read(out: Any) -> ContractMonth:
        reads.append(out[field])
        return read_contract_month(out)

    readers: dict[type[Any], Callable[[Any], Any]] = figures._READERS
    kind: type[Any] = ContractMonth
    monkeypatch.setitem(readers, kind, read)
    return reads


def test_an_output_is_read_once_until_the_state_hands_over_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = _counted_reads(monkeypatch, "counted_downtime_minutes")
    months = TypedOutputs(ContractMonth)
    first, second = statement(1, 0), statement(2, 0, revision=1)
    assert [st.counted_downtime_minutes for st in months.read([first])] == [1]
    assert [st.counted_downtime_minutes for st in months.read([first])] == [1]
    assert reads == [1]
    assert [st.counted_downtime_minutes for st in months.read([second])] == [2]
    assert reads == [1, 2]
    # only what the last scrape was handed is kept: the first is read again
    months.read([first])
    assert reads == [1, 2, 1]
    typed = read_contract_month(second)
    assert months.read([typed])[0] is typed
    assert reads == [1, 2, 1]


def test_a_copy_with_a_new_computed_at_is_not_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the worker's stages remake an unchanged statement at each recomputation."""
    reads = _counted_reads(monkeypatch, "computed_at")
    months = TypedOutputs(ContractMonth)
    first = statement(1, 0, computed_at="2026-03-10T12:00:00Z")
    months.read([first])
    later = {**first, "computed_at": "2026-03-10T12:01:00+00:00"}
    [typed] = months.read([later])
    assert reads == ["2026-03-10T12:00:00Z"]
    # the value a whole read gives, the new instant included
    assert typed == read_contract_month(later)
    assert typed.computed_at == parse_instant("2026-03-10T12:01:00Z")
    # a copy whose other parts are not the very same objects is read
    revised = {**later, "computed_at": "2026-03-10T12:02:00Z", "revision": 1}
    regrouped = {**later, "services": dict(later["services"])}
    months.read([revised, regrouped])
    assert reads[1:] == ["2026-03-10T12:02:00Z", "2026-03-10T12:01:00+00:00"]
    # an instant that does not read fails as a whole read does
    with pytest.raises(ResultError, match="computed_at"):
        months.read([{**revised, "computed_at": "2026-03-10T12:03:00"}])


def test_a_statement_that_does_not_read_fails_the_scrape() -> None:
    broken = statement(1, 0)
    del broken["currency"]
    reg, _ = registry_for(FakeState([statement(1, 0, contract_id="PO-2"), broken]))
    with pytest.raises(ResultError, match="currency"):
        value(reg, m.CONTRACT_UPTIME_RATIO, **MARCH)
