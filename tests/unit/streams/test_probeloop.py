"""The probe loop's parts that need no broker: its store, partitioning and stage hooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner

from sla.probes import DAY, MinuteStates, ProbeLedger
from streams import topics
from streams.ledgerstore import LedgerStore
from streams.probeloop import Sources, ledger_topic, service_partition
from streams.probestage import ProbeStage


def _probe(service: str, n: int, ok: bool = True) -> bytes:
    return json.dumps(
        {
            "type": "probe",
            "event_id": f"{service}-{n}",
            "service": service,
            "region": "eu-west-1",
            "observed_at": f"2026-03-05T10:{n:02d}:10Z",
            "ok": ok,
            "latency_ms": 12.5,
            "status_code": 200 if ok else 503,
        }
    ).encode()


def _src(n: int) -> dict[str, object]:
    return {"topic": topics.PROBES.name, "partition": 0, "offset": n}


def test_service_partition_is_the_producers_key_partitioner() -> None:
    partitioner = DefaultPartitioner()
    parts = list(range(topics.PROBES.partitions))
    for name in ["api", "web", "svc-000", "svc-015", "billing.eu/v2", "a"]:
        assert service_partition(name, len(parts)) == partitioner(name.encode(), parts, parts)
        assert service_partition(name.encode(), 3) == partitioner(name.encode(), [0, 1, 2], [0])


def test_ledger_topic_is_compacted_and_has_a_partition_per_probe_partition() -> None:
    spec = ledger_topic("availability")
    assert spec.name == "availability-probe-ledgers-changelog"
    assert spec.partitions == topics.PROBES.partitions
    assert spec.config == {"cleanup.policy": "compact"}
    assert ledger_topic("x", 12).partitions == 12


def test_store_tracks_changes_but_not_restores() -> None:
    store = LedgerStore()
    store.load("api|2026-03|eu", b"restored")
    assert store.changed() == []
    store["api|2026-03|us"] = b"new"
    store["web|2026-03|eu"] = b"w"
    del store["api|2026-03|eu"]
    # values first, deletions last: a checkpoint cut short keeps the old value
    assert store.changed() == [
        ("api|2026-03|us", b"new"),
        ("web|2026-03|eu", b"w"),
        ("api|2026-03|eu", None),
    ]
    assert store.changed() == []
    assert store.with_prefix("api|2026-03|") == ["api|2026-03|us"]
    assert store.with_prefix("api|2026-04|") == []
    store.unsaved(["web|2026-03|eu"])
    assert store.changed() == [("web|2026-03|eu", b"w")]


def test_forget_drops_other_services_without_marking_them_changed() -> None:
    store = LedgerStore()
    store["api|2026-03|eu"] = b"a"
    store["web|2026-03|eu"] = b"w"
    assert store.forget(lambda service: service == "api") == 1
    assert list(store) == ["api|2026-03|eu"]
    assert "web|2026-03|eu" not in store
    assert store.with_prefix("web|2026-03|") == []
    assert store.changed() == [("api|2026-03|eu", b"a")]


def test_a_probe_of_a_service_owned_elsewhere_goes_back_to_its_partition() -> None:
    store = LedgerStore()
    stage = ProbeStage(store, owner=lambda service: service == "api")
    raws = [_probe("api", 1), _probe("web", 2), _probe("api", 3, ok=False)]
    out = stage.process(raws, [_src(i) for i in range(3)])
    forwarded = [m for m in out if m.topic == topics.PROBES.name]
    assert [(m.key, m.value) for m in forwarded] == [(b"web", raws[1])]
    states = [m for m in out if m.topic == topics.MINUTE_STATES.name]
    assert [m.key for m in states] == [b"api|2026-03"]
    assert stage.stats.events == {"probe": 2}
    # ledgers reach the store on save only, one key per region and day
    assert len(store) == 0
    assert stage.save() == 1
    assert list(store) == ["api|2026-03|eu-west-1|05"]
    assert [k for k, _ in store.changed()] == ["api|2026-03|eu-west-1|05"]
    assert stage.save() == 0


def test_a_reset_keeps_the_counters_and_reloads_saved_ledgers() -> None:
    store = LedgerStore()
    stage = ProbeStage(store)
    first = stage.process([_probe("api", 1, ok=False)], [_src(0)])
    stage.save()
    stage.reset()
    assert stage.stats.events == {"probe": 1}
    # the same probe again (a redelivery) changes nothing once the ledger is reloaded
    again = stage.process([_probe("api", 1, ok=False)], [_src(0)])
    assert [m.value for m in again] == [m.value for m in first]
    assert stage.stats.events == {"probe": 2}


def test_a_reset_before_save_drops_the_unsaved_fold() -> None:
    store = LedgerStore()
    stage = ProbeStage(store)
    stage.process([_probe("api", 1)], [_src(0)])
    stage.reset()
    assert stage.save() == 0
    assert len(store) == 0


def test_sources_name_each_record_of_a_batch() -> None:
    sources = Sources("availability.probes")
    sources.add(3, [10, 11, 12])
    sources.add(0, [7])
    sources.add(5, [1, 2])
    assert len(sources) == 6
    assert sources[0] == {"topic": "availability.probes", "partition": 3, "offset": 10}
    assert sources[2] == {"topic": "availability.probes", "partition": 3, "offset": 12}
    assert sources[3] == {"topic": "availability.probes", "partition": 0, "offset": 7}
    assert sources[-1] == {"topic": "availability.probes", "partition": 5, "offset": 2}
    assert [s["offset"] for s in sources] == [10, 11, 12, 7, 1, 2]
    assert [s["partition"] for s in sources[3:5]] == [0, 5]
    with pytest.raises(IndexError):
        sources[6]


def test_minute_states_wait_for_publish_once_per_service_month() -> None:
    stage = ProbeStage(LedgerStore())
    assert stage.process([_probe("api", 1)], [_src(0)], publish=False) == []
    assert stage.process([_probe("api", 2, ok=False)], [_src(1)], publish=False) == []
    assert stage.unpublished == 1
    states = stage.publish()
    assert [m.key for m in states] == [b"api|2026-03"]
    assert stage.unpublished == 0
    assert stage.publish() == []
    # the same as publishing after each batch, for the last batch
    direct = ProbeStage(LedgerStore())
    direct.process([_probe("api", 1)], [_src(0)])
    assert [m.value for m in direct.process([_probe("api", 2, ok=False)], [_src(1)])] == [
        m.value for m in states
    ]


def test_probes_that_change_no_minute_state_publish_nothing() -> None:
    stage = ProbeStage(LedgerStore())
    assert [m.key for m in stage.process([_probe("api", 1)], [_src(0)])] == [b"api|2026-03"]
    # a second passing probe in the same minute: more probes, the same states
    again = json.loads(_probe("api", 1))
    again["event_id"] = "api-1-again"
    assert stage.process([json.dumps(again).encode()], [_src(1)]) == []
    # a failure in a new minute changes the states: published again, with the new count
    (msg,) = stage.process([_probe("api", 2, ok=False)], [_src(2)])
    head, _, body = msg.value.partition(b"\n")
    assert json.loads(head) == {"service": "api", "month": "2026-03"}
    assert MinuteStates.from_bytes(body).version == 3


def test_a_region_stored_whole_is_rewritten_as_days() -> None:
    store = LedgerStore()
    stage = ProbeStage(store)
    stage.process([_probe("api", 1), _probe("api", 2)], [_src(0), _src(1)])
    stage.save()
    ((day_key, day_value),) = store.changed()
    whole = day_key.rsplit("|", 1)[0]
    # what an earlier version stored: the whole region under one key
    march = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) // 60
    led = ProbeLedger(march, 31 * DAY)
    assert day_value is not None
    led.load_bytes(day_value)
    store.load(day_key, None)
    store.load(whole, led.to_bytes())
    stage.reset()
    late = json.loads(_probe("api", 40))
    late["observed_at"] = "2026-03-20T10:40:10Z"
    stage.process([json.dumps(late).encode()], [_src(2)])
    stage.save()
    changed = dict(store.changed())
    assert changed.pop(whole) is None  # the whole value is deleted
    assert sorted(changed) == [f"{whole}|05", f"{whole}|20"]
    # the days hold all three probes
    stage.reset()
    out = stage.process([_probe("api", 1)], [_src(0)], publish=True)
    states = MinuteStates.from_bytes(out[-1].value.split(b"\n", 1)[1])
    assert states.version == 3


def test_a_publication_stopped_half_way_gives_every_service_month_again() -> None:
    # the probe loop publishes one service-month per loop step; cancelled
    # between steps, what it had not sent yet must not count as published
    stage = ProbeStage(LedgerStore())
    stage.process([_probe("api", 1), _probe("web", 2)], [_src(0), _src(1)], publish=False)
    steps = stage.publish_steps()
    first = next(steps)
    assert first is not None
    steps.close()  # stopped after one of the two
    assert stage.unpublished == 2
    again = [m for m in stage.publish_steps() if m is not None]
    assert sorted(m.key for m in again) == [b"api|2026-03", b"web|2026-03"]
    assert stage.unpublished == 0
    assert stage.publish() == []  # taken to the end: published


def test_a_save_stopped_half_way_leaves_nothing_unsaved() -> None:
    store = LedgerStore()
    stage = ProbeStage(store)
    stage.process([_probe("api", 1), _probe("web", 2)], [_src(0), _src(1)], publish=False)
    steps = stage.save_steps()
    assert next(steps) == 1  # one service-month's day, in the store now
    steps.close()
    stage.save()  # the rest
    saved = sorted(k.split("|")[0] for k, _ in store.changed())
    assert saved == ["api", "web"]
    assert stage.save() == 0


def _probe_at(n: int, at: str) -> bytes:
    event = json.loads(_probe("api", 0))
    event["event_id"] = f"api-{n}"
    event["observed_at"] = at
    return json.dumps(event).encode()


def _restored(store: LedgerStore) -> ProbeLedger:
    march = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) // 60
    led = ProbeLedger(march, 31 * DAY)
    assert led.load_many([store[k] for k in store.with_prefix("api|2026-03|")]) == []
    return led


def test_a_full_day_is_stored_an_hour_a_value_and_a_full_hour_a_minute_a_value() -> None:
    store = LedgerStore()
    stage = ProbeStage(store)
    stage.slice_probes = 3
    day = "api|2026-03|eu-west-1|05"
    times = [f"2026-03-05T10:{m:02d}:10Z" for m in (1, 2)]
    stage.process([_probe_at(i, t) for i, t in enumerate(times)], [_src(0), _src(1)])
    stage.save()
    assert [k for k, _ in store.changed()] == [day]
    # two more probes in hour 10: the day (4 probes) and the hour are too full
    more = [_probe_at(10 + m, f"2026-03-05T10:{m:02d}:30Z") for m in (3, 4)]
    stage.process(more, [_src(2), _src(3)])
    stage.save()
    changed = store.changed()
    assert changed == [
        *((f"{day}|10|{m:02d}", store[f"{day}|10|{m:02d}"]) for m in (1, 2, 3, 4)),
        (day, None),  # deleted after the values that replace it
    ]
    # a probe in another hour: that hour alone, one value (it holds one probe)
    stage.process([_probe_at(20, "2026-03-05T11:00:10Z")], [_src(4)])
    stage.save()
    assert [k for k, _ in store.changed()] == [f"{day}|11"]
    # a new minute of the full hour: that minute alone
    stage.process([_probe_at(21, "2026-03-05T10:05:10Z")], [_src(5)])
    stage.save()
    assert [k for k, _ in store.changed()] == [f"{day}|10|05"]
    assert sorted(store) == sorted([f"{day}|10|{m:02d}" for m in (1, 2, 3, 4, 5)] + [f"{day}|11"])
    held = stage.book.ledgers[next(iter(stage.book.ledgers))]
    assert isinstance(held, ProbeLedger)
    restored = _restored(store)
    assert restored.probe_count() == held.probe_count() == 6
    assert restored.to_bytes() == held.to_bytes()


def test_a_coarser_value_written_over_finer_ones_deletes_them() -> None:
    # finer values left by a smaller budget (or an earlier, fuller state) must
    # not be laid over the newer, coarser value on a restore
    store = LedgerStore()
    stage = ProbeStage(store)
    stage.slice_probes = 1
    times = [f"2026-03-05T10:{m:02d}:10Z" for m in (1, 2)]
    stage.process([_probe_at(i, t) for i, t in enumerate(times)], [_src(0), _src(1)])
    stage.save()
    day = "api|2026-03|eu-west-1|05"
    assert sorted(store) == [f"{day}|10|01", f"{day}|10|02"]
    store.changed()
    stage.reset()
    stage.slice_probes = 100
    stage.process([_probe_at(9, "2026-03-05T12:00:10Z")], [_src(2)])
    stage.save()
    assert store.changed() == [
        (day, store[day]),
        (f"{day}|10|01", None),
        (f"{day}|10|02", None),
    ]
    assert _restored(store).probe_count() == 3


def test_a_value_at_the_budget_is_about_half_the_brokers_message_size() -> None:
    # the broker's default message.max.bytes is 1 MiB; a full day value, the
    # counts of its 1,440 minutes included, must stay well under it
    led = ProbeLedger(0, DAY)
    for i in range(ProbeStage.slice_probes):
        led.add("eu-west-1", (i * 7) % DAY, f"probe-{i}", i % 5 != 0)
    value = led.slice_bytes("eu-west-1", 0, DAY)
    assert led.rows("eu-west-1", 0, DAY) == ProbeStage.slice_probes
    assert len(value) <= (1 << 20) // 2
