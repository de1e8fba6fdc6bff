"""SPEC section 3: region and service quorum, duplicates, no data, declared outages."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from sla.model import JSON
from sla.probes import DAY, DOWN, NO_DATA, UP, ProbeLedger, ProbePolicy
from tests.helpers import incident, one, probe

AS_OF = "2026-03-20T00:00:00Z"


def _record(events: list[JSON]) -> JSON:
    return one(events, AS_OF, "service_month", service="api", month="2026-03")


def test_one_region_decides_alone() -> None:
    rec = _record([probe("api", "eu", "2026-03-05T10:00:05Z", False)])
    assert rec["down_minutes"] == 1
    assert rec["intervals"]["counted"] == [["2026-03-05T10:00:00Z", "2026-03-05T10:01:00Z"]]


def test_two_regions_must_both_be_down() -> None:
    one_down = [
        probe("api", "eu", "2026-03-05T10:00:05Z", False),
        probe("api", "us", "2026-03-05T10:00:07Z", True),
    ]
    assert _record(one_down)["down_minutes"] == 0
    both_down = [
        probe("api", "eu", "2026-03-05T10:00:05Z", False),
        probe("api", "us", "2026-03-05T10:00:07Z", False),
    ]
    assert _record(both_down)["down_minutes"] == 1


def test_three_regions_need_two_down() -> None:
    base = [probe("api", "ap", "2026-03-05T10:00:01Z", True)]
    one_down = [
        *base,
        probe("api", "eu", "2026-03-05T10:00:05Z", False),
        probe("api", "us", "2026-03-05T10:00:07Z", True),
    ]
    two_down = [
        *base,
        probe("api", "eu", "2026-03-05T10:00:05Z", False),
        probe("api", "us", "2026-03-05T10:00:07Z", False),
    ]
    assert _record(one_down)["down_minutes"] == 0
    assert _record(two_down)["down_minutes"] == 1


def test_region_with_one_failure_out_of_two_probes_is_down() -> None:
    events = [
        probe("api", "eu", "2026-03-05T10:00:05Z", True),
        probe("api", "eu", "2026-03-05T10:00:35Z", False),
    ]
    assert _record(events)["down_minutes"] == 1
    # one failure out of three is below the 0.5 threshold
    events.append(probe("api", "eu", "2026-03-05T10:00:50Z", True))
    assert _record(events)["down_minutes"] == 0


def test_repeated_probe_counts_once_beside_a_failure() -> None:
    ok = probe("api", "eu", "2026-03-05T10:00:05Z", True, event_id="probe-ok-1")
    fail = probe("api", "eu", "2026-03-05T10:00:35Z", False, event_id="probe-fail-1")
    # counted three times the region-minute would be 1 failure of 4 (up);
    # counted once it is 1 of 2 (down).
    assert _record([ok, ok, fail, ok])["down_minutes"] == 1


def test_minutes_without_probes_are_no_data_and_count_as_up() -> None:
    rec = _record([probe("api", "eu", "2026-03-05T10:00:05Z", True)])
    assert rec["down_minutes"] == 0
    # as of 2026-03-20T00:00Z, 19 days of March have elapsed; one minute had data
    assert rec["no_data_minutes"] == 19 * 1440 - 1
    assert rec["uptime_percent"] == "100.0000"


def test_declared_outage_makes_a_minute_without_probes_down_not_no_data() -> None:
    events = [
        probe("api", "eu", "2026-03-05T10:00:05Z", True),
        incident("INC-1", ["api"], "2026-03-05T10:00:00Z", "2026-03-05T10:05:00Z"),
    ]
    rec = _record(events)
    assert rec["down_minutes"] == 5
    assert rec["counted_downtime_minutes"] == 5
    assert rec["no_data_minutes"] == 19 * 1440 - 5


def test_degraded_incident_does_not_override_probes() -> None:
    events = [
        probe("api", "eu", "2026-03-05T10:00:05Z", True),
        incident(
            "INC-2", ["api"], "2026-03-05T10:00:00Z", "2026-03-05T10:05:00Z", impact="degraded"
        ),
    ]
    assert _record(events)["down_minutes"] == 0


def test_ledger_states_and_round_trip() -> None:
    led = ProbeLedger(first_minute=1000, minutes=10)
    led.add("eu", 1000, "a", True)
    led.add("eu", 1001, "b", False)
    led.add("eu", 1001, "b", False)
    led.add("us", 1001, "c", False)
    states = led.minute_states(ProbePolicy())
    assert states.tolist()[:3] == [UP, DOWN, NO_DATA]
    again = ProbeLedger.from_bytes(led.to_bytes())
    assert np.array_equal(again.minute_states(ProbePolicy()), states)
    assert again.probe_count() == 3


def test_conflicting_redelivery_resolves_to_failure_in_any_order() -> None:
    for order in ((True, False), (False, True)):
        led = ProbeLedger(first_minute=0, minutes=1)
        for ok in order:
            led.add("eu", 0, "same-id", ok)
        assert led.probe_count() == 1
        assert led.minute_states(ProbePolicy()).tolist() == [DOWN]


def test_wide_counts_when_a_region_minute_has_many_probes() -> None:
    led = ProbeLedger(first_minute=0, minutes=2)
    for i in range(300):
        led.add("eu", 0, f"id-{i}", i % 2 == 0)
    assert led.probe_count() == 300
    assert led.minute_states(ProbePolicy()).tolist() == [DOWN, NO_DATA]
    again = ProbeLedger.from_bytes(led.to_bytes())
    assert again.probe_count() == 300


def _month_ledger(seed: int) -> ProbeLedger:
    """A 30-day ledger, two regions, probes on days 0, 1, 7 and 29 (some failing)."""
    rng = np.random.default_rng(seed)
    led = ProbeLedger(first_minute=0, minutes=30 * DAY)
    for day in (0, 1, 7, 29):
        for minute in rng.choice(DAY, size=200, replace=False).tolist():
            for region in ("eu", "us"):
                ok = bool(rng.random() > 0.3)
                led.add(region, day * DAY + minute, f"{region}-{day}-{minute}", ok)
    return led


def _days(minutes: list[int]) -> list[int]:
    return sorted({m // DAY for m in minutes})


def _changed_days(led: ProbeLedger) -> dict[str, list[int]]:
    return {region: _days(minutes) for region, minutes in led.changed_minutes().items()}


def test_day_slices_rebuild_the_ledger() -> None:
    led = _month_ledger(1)
    assert _changed_days(led) == {"eu": [0, 1, 7, 29], "us": [0, 1, 7, 29]}
    assert led.changed_minutes() == {}
    again = ProbeLedger(first_minute=0, minutes=30 * DAY)
    for region in ("us", "eu"):
        for day in reversed(_days(led.minutes_with_data(region))):  # any order
            again.load_bytes(led.day_bytes(region, day))
    assert again.probe_count() == led.probe_count() == 1600
    assert np.array_equal(again.minute_states(ProbePolicy()), led.minute_states(ProbePolicy()))
    assert again.to_bytes() == led.to_bytes()


def test_a_late_probe_changes_one_day_and_its_slice_replaces_the_old_one() -> None:
    led = _month_ledger(2)
    stored = ProbeLedger.from_bytes(led.to_bytes())  # what a store held before
    led.changed_minutes()
    led.add("eu", 7 * DAY + 5, "late", False)
    led.add("eu", 7 * DAY + 5, "late", False)  # redelivered
    assert led.changed_minutes() == {"eu": [7 * DAY + 5]}
    stored.load_bytes(led.day_bytes("eu", 7))
    assert stored.to_bytes() == led.to_bytes()
    # an empty day written over a day with probes empties it
    empty = ProbeLedger(first_minute=0, minutes=30 * DAY)
    empty.add("eu", 3 * DAY, "x", True)
    stored.load_bytes(empty.day_bytes("eu", 7))
    assert stored.minutes_with_data("eu", 7 * DAY, 8 * DAY) == []
    assert stored.probe_count() == led.probe_count() - 201


def test_a_slice_of_another_month_or_past_the_end_is_refused() -> None:
    led = _month_ledger(3)
    other = ProbeLedger(first_minute=DAY, minutes=30 * DAY)
    with pytest.raises(ValueError, match="another month"):
        other.load_bytes(led.day_bytes("eu", 0))
    with pytest.raises(ValueError, match="outside"):
        led.day_bytes("eu", 30)


def test_wide_minute_counts_survive_a_slice() -> None:
    led = ProbeLedger(first_minute=0, minutes=2 * DAY)
    for i in range(300):
        led.add("eu", DAY + 1, f"id-{i}", True)
    led.add("eu", 0, "first-day", False)
    narrow = ProbeLedger(first_minute=0, minutes=2 * DAY)
    narrow.load_bytes(led.day_bytes("eu", 0))
    narrow.load_bytes(led.day_bytes("eu", 1))
    assert narrow.to_bytes() == led.to_bytes()
    assert narrow.probe_count() == 301


def test_counts_past_65535_in_a_minute_widen_instead_of_wrapping() -> None:
    led = ProbeLedger(first_minute=0, minutes=DAY)
    for i in range(70_000):
        led.add("eu", 5, f"id-{i}", True)
    assert led.rows("eu", 5, 6) == led.probe_count() == 70_000
    again = ProbeLedger.from_bytes(led.to_bytes())
    assert again.probe_count() == 70_000
    sliced = ProbeLedger(first_minute=0, minutes=DAY)
    sliced.load_bytes(led.slice_bytes("eu", 5, 6))
    assert sliced.to_bytes() == led.to_bytes()


@pytest.mark.parametrize("seed", range(6))
def test_load_many_equals_loading_each_value_in_turn(seed: int) -> None:
    """Slices of any size, overlapping, in any order: later values win, as one by one."""
    rng = np.random.default_rng(seed)
    minutes = 3 * DAY
    states = [ProbeLedger(first_minute=0, minutes=minutes) for _ in range(3)]
    for n, led in enumerate(states):  # three moments of one ledger's life
        for _ in range(400 * (n + 1)):
            region = str(rng.choice(["eu", "us"]))
            m = int(rng.integers(0, minutes))
            led.add(region, m, f"p{int(rng.integers(0, 900))}", bool(rng.random() < 0.8))
    values = [states[0].to_bytes()]
    for _ in range(40):
        led = states[int(rng.integers(0, 3))]
        region = str(rng.choice(["eu", "us"]))
        lo = int(rng.integers(0, minutes))
        hi = min(minutes, lo + int(rng.choice([1, 60, DAY])))
        values.append(led.slice_bytes(region, lo, hi))
    values.insert(7, b"\x02 not a slice")
    values.insert(12, states[0].to_bytes()[:-3])  # cut short
    one_by_one = ProbeLedger(first_minute=0, minutes=minutes)
    refused = []
    for i, data in enumerate(values):
        try:
            one_by_one.load_bytes(data)
        except ValueError:
            refused.append(i)
    at_once = ProbeLedger(first_minute=0, minutes=minutes)
    failures = at_once.load_many(values)
    assert [i for i, _ in failures] == refused == [7, 12]
    assert at_once.to_bytes() == one_by_one.to_bytes()
    assert at_once.probe_count() == one_by_one.probe_count()
    policy = ProbePolicy()
    assert np.array_equal(at_once.minute_states(policy), one_by_one.minute_states(policy))


def test_received_states_with_more_probes_but_the_same_minutes_keep_the_held_array() -> None:
    from sla.book import Book
    from sla.months import Month, month_bounds
    from sla.probes import MinuteStates

    month = Month(2026, 3)
    first, end = month_bounds(month)
    book = Book()
    states = np.full(end - first, NO_DATA, np.int8)
    states[:60] = UP
    assert book.set_minute_states("api", month, MinuteStates(first, states.copy(), 10))
    held = book.ledgers[("api", month)]
    assert isinstance(held, MinuteStates)
    array = held.minute_states(ProbePolicy())
    # a second passing probe in a minute already up: a newer version, the same minutes
    assert not book.set_minute_states("api", month, MinuteStates(first, states.copy(), 11))
    assert book.ledgers[("api", month)] is held
    assert held.minute_states(ProbePolicy()) is array  # results cached on it stay valid
    assert held.version == 11
    # an older version never comes back, whatever it holds
    states[60] = DOWN
    assert not book.set_minute_states("api", month, MinuteStates(first, states.copy(), 11))
    # a newer version with a changed minute replaces it
    assert book.set_minute_states("api", month, MinuteStates(first, states.copy(), 12))
    assert book.ledgers[("api", month)].minute_states(ProbePolicy())[60] == DOWN


@pytest.mark.parametrize("seed", range(8))
def test_merging_after_every_batch_equals_merging_once(seed: int) -> None:
    """A merge rewrites only the minutes from its earliest probe on; the arrays are the same.

    Batches mostly at the end of what is held (a live stream), some earlier
    (late data), with redeliveries, conflicting redeliveries and a region
    loaded from bytes part-way.
    """
    rng = np.random.default_rng(seed)
    first, minutes = 29_000_000, 3 * DAY
    probes: list[tuple[str, int, str, bool]] = []
    for batch in range(30):
        base = batch * 60 if rng.random() < 0.8 else int(rng.integers(0, batch * 60 + 1))
        for _ in range(int(rng.integers(1, 200))):
            m = first + min(minutes - 1, base + int(rng.integers(0, 90)))
            eid = f"p{int(rng.integers(0, 400))}"  # repeats: redeliveries, some conflicting
            probes.append((str(rng.choice(["eu", "us"])), m, eid, bool(rng.random() < 0.7)))
        probes.append(("|", 0, "", False))  # a batch boundary
    policy = ProbePolicy(region_failure_threshold=Fraction(1, 3))
    once = ProbeLedger(first, minutes)
    often = ProbeLedger(first, minutes)
    batches = 0
    for region, m, eid, ok in probes:
        if region == "|":
            often.minute_states(policy)  # merges; the states of what changed only
            batches += 1
            if batches == 10:  # a restart: what was merged comes back from its bytes
                often = ProbeLedger.from_bytes(often.to_bytes())
            continue
        once.add(region, m, eid, ok)
        often.add(region, m, eid, ok)
    once.merge()
    often.merge()
    assert often.regions == once.regions
    for region in once.regions:
        a, b = once._regions[region], often._regions[region]
        assert np.array_equal(a.counts, b.counts)
        assert np.array_equal(a.packed, b.packed)
        assert [x.tolist() for x in a.totals()] == [x.tolist() for x in b.totals()]
    assert np.array_equal(once.minute_states(policy), often.minute_states(policy))
