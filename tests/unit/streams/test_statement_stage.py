"""The statement stage: what it publishes, in which order, when, and under which revision."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from devkit.book_of_business import book_contracts
from sla.model import JSON
from sla.months import Month, month_bounds
from sla.probes import DOWN, NO_DATA, UP, MinuteStates
from sla.timeutil import epoch_minute
from streams import topics
from streams.statementstage import StatementStage
from tests.helpers import claim, contract

MONTH = Month(2026, 3)
NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def _states(
    service: str, array: np.ndarray, version: int, month: Month = MONTH
) -> tuple[str, bytes, dict[str, object]]:
    first, _ = month_bounds(month)
    head = json.dumps({"service": service, "month": str(month)}).encode()
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


def _drain(stage: StatementStage, mono: float) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    while ready := stage.ready_outputs(mono, limit=7):
        stage.confirm([o for _, o in ready])
        out.update({m.key.decode(): {**o, "computed_at": None} for m, o in ready})
    return out


def test_deferred_coverage_comes_second_and_ends_where_one_pass_ends() -> None:
    """A refresh that defers leaves coverage-tick-only statements; the next one rebuilds them.

    Two stages fold the same minutes of a book: one recomputes once a minute,
    the other defers and then recomputes again without deferring, as the
    worker does. The first pass of the deferring stage holds every real
    change (a failing minute) and none of the coverage-only rebuilds; after
    the second, both stages have published the same outputs.
    """
    names = ("api", "web", "db")
    events = list(book_contracts(60, names, MONTH, seed=5))
    first, end = month_bounds(MONTH)
    now = epoch_minute(NOW) - first
    arrays = {s: np.full(end - first, NO_DATA, np.int8) for s in names}
    for a in arrays.values():
        a[:now] = UP
    one, two = StatementStage({}, {}), StatementStage({}, {})
    contracts: list[tuple[str, bytes, dict[str, object]]] = [
        (topics.CONTRACTS.name, json.dumps(ev).encode(), {}) for ev in events
    ]
    for stage in (one, two):
        stage.process(contracts)
        stage.process([_states(s, a, 1) for s, a in arrays.items()])
        stage.refresh(NOW, mono=0.0)
        _drain(stage, 0.0)
    deferred = 0
    down: dict[str, int] = {}
    for i in range(1, 12):
        at, mono = NOW + timedelta(minutes=i), 61.0 * i
        failing = names[i % 3]
        for s, a in arrays.items():
            a[now + i] = DOWN if s == failing and i % 4 == 0 else UP
        for stage in (one, two):
            stage.process([_states(s, a, 1 + i) for s, a in arrays.items()])
        one.refresh(at, mono=mono)
        got_one = _drain(one, mono)
        two.refresh(at, mono=mono, defer=True)
        first_pass = _drain(two, mono)
        deferred += two.deferred
        if two.deferred:
            two.refresh(at, mono=mono, force=True)
        second_pass = _drain(two, mono)
        assert {**first_pass, **second_pass} == got_one, i
        # a failing minute: every statement that shows it comes in the first pass
        shows = {k for k, o in got_one.items() if o.get("down_minutes", 0) > down.get(k, 0)}
        assert shows <= set(first_pass), i
        assert shows or i % 4, i
        down.update({k: o.get("down_minutes", 0) for k, o in got_one.items()})
        assert not set(first_pass) & set(second_pass)
    assert deferred > 0


def test_an_alert_the_inputs_no_longer_give_is_never_published() -> None:
    """A ticket alert held while the worker catches up is dropped once its response is read."""
    stage = StatementStage({}, {})
    opened = {
        "type": "ticket_opened",
        "event_id": "t-open",
        "ticket_id": "TKT-1",
        "client_id": "acme",
        "opened_at": "2026-03-09T20:23:07Z",
        "severity": "high",
        "channel": "email",
    }
    responded = {
        "type": "ticket_responded",
        "event_id": "t-resp",
        "ticket_id": "TKT-1",
        "responded_at": "2026-03-09T20:53:07Z",  # before its at-risk moment
        "agent": "support-1",
    }
    tickets = topics.TICKETS.name
    stage.process([(tickets, json.dumps(opened).encode(), {"topic": tickets})])
    stage.refresh(NOW, mono=0.0)
    held = stage.ready_outputs(mono=0.0, hold_final=True)
    stage.confirm([o for _, o in held])
    assert all(o["kind"] != "ticket_alert" for _, o in held)  # held: not caught up yet
    assert any(k.startswith("ticket_alert|") for k in stage._pending)
    stage.process([(tickets, json.dumps(responded).encode(), {"topic": tickets})])
    stage.refresh(NOW, mono=1.0)
    after = stage.ready_outputs(mono=1.0, hold_final=False)
    assert [o for _, o in after if o["kind"] == "ticket_verdict"]
    assert all(o["kind"] != "ticket_alert" for _, o in after)


FEB = Month(2026, 2)
FINAL_AT = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)  # February's end + 72 h


def _february(stage: StatementStage, down: int) -> np.ndarray:
    """PO-F over api, every minute of February up but the first ``down``."""
    first, end = month_bounds(FEB)
    api = np.full(end - first, UP, np.int8)
    api[:down] = DOWN
    raw = json.dumps(contract("PO-F", services={"api": "1000.00"})).encode()
    stage.process([(topics.CONTRACTS.name, raw, {"topic": topics.CONTRACTS.name})])
    stage.process([_states("api", api, 1, FEB)])
    return api


def _statement(ready: Sequence[tuple[object, JSON]]) -> list[JSON]:
    return [o for _, o in ready if o["kind"] == "contract_month" and o["month"] == "2026-02"]


def test_a_final_statement_waits_to_be_stable_and_for_the_inputs_to_be_read() -> None:
    stage = StatementStage({}, {})
    _february(stage, down=3)
    at = FINAL_AT + timedelta(hours=1)
    stage.refresh(at, mono=100.0)
    # not caught up: a final statement computed from part of a backlog is held
    assert _statement(stage.ready_outputs(mono=200.0, settle=5.0, hold_final=True)) == []
    # caught up, but its content is younger than the settle time
    assert _statement(stage.ready_outputs(mono=102.0, settle=5.0)) == []
    ready = stage.ready_outputs(mono=105.0, settle=5.0)
    (final,) = _statement(ready)
    assert (final["status"], final["revision"]) == ("final", 0)
    assert final["counted_downtime_minutes"] == 3
    stage.confirm([o for _, o in ready])
    # nothing changed: nothing to publish again, however often it recomputes
    stage.refresh(at + timedelta(minutes=5), mono=300.0, force=True)
    assert _statement(stage.ready_outputs(mono=400.0, settle=5.0)) == []


def test_a_final_statement_whose_content_changes_is_published_as_the_next_revision() -> None:
    stage = StatementStage({}, {})
    api = _february(stage, down=3)
    at = FINAL_AT + timedelta(hours=1)
    stage.refresh(at, mono=0.0)
    ready = stage.ready_outputs(mono=10.0, settle=5.0)
    stage.confirm([o for _, o in ready])
    # a late probe after finality: one more minute down, under the same knowledge
    api[3] = DOWN
    stage.process([_states("api", api, 2, FEB)])
    stage.refresh(at + timedelta(minutes=1), mono=20.0)
    ready = stage.ready_outputs(mono=30.0, settle=5.0)
    (revised,) = _statement(ready)
    assert (revised["status"], revised["revision"]) == ("revised", 1)
    assert revised["counted_downtime_minutes"] == 4
    stage.confirm([o for _, o in ready])
    assert stage.latest[topics.output_key(revised)]["revision"] == 1


def test_a_claim_decision_is_revision_0_and_the_next_only_when_it_changes() -> None:
    stage = StatementStage({}, {})
    api = _february(stage, down=3)
    hours = [("2026-02-01T00:00:00Z", "2026-02-01T02:00:00Z")]
    raw = json.dumps(claim("CL-1", "PO-F", "2026-03-02T10:00:00Z", hours)).encode()
    stage.process([(topics.CLAIMS.name, raw, {"topic": topics.CLAIMS.name})])
    at = FINAL_AT + timedelta(hours=1)

    def decisions(minutes: int, mono: float, force: bool = False) -> list[JSON]:
        stage.refresh(at + timedelta(minutes=minutes), mono=mono, force=force)
        ready = stage.ready_outputs(mono=mono + 10.0, settle=5.0)
        stage.confirm([o for _, o in ready])
        return [o for _, o in ready if o["kind"] == "claim_decision"]

    (first,) = decisions(0, 0.0)
    assert (first["revision"], first["credit_total"]) == (0, "0.00")
    assert "status" not in first
    # recomputed, nothing new: not sent again
    assert decisions(1, 20.0, force=True) == []
    # late probes: 97 more minutes down, the claimed month now earns a credit
    api[3:100] = DOWN
    stage.process([_states("api", api, 2, FEB)])
    (second,) = decisions(2, 40.0)
    assert (second["revision"], second["credit_total"]) == (1, "100.00")
    assert decisions(3, 60.0, force=True) == []


def test_only_the_primary_partition_publishes_service_month_records() -> None:
    """Every partition folds every service's minutes; one publishes their records."""
    at = FINAL_AT + timedelta(hours=1)
    kinds = []
    for stage in (StatementStage({}, {}), StatementStage({}, {}, primary=False)):
        _february(stage, down=3)
        stage.refresh(at, mono=0.0)
        kinds.append({o["kind"] for _, o in stage.ready_outputs(mono=10.0, settle=5.0)})
    assert kinds == [{"contract_month", "service_month"}, {"contract_month"}]


def test_a_batch_delivered_again_changes_nothing() -> None:
    """A redelivery after a crash, or a producer's retry: the stage is a fold over sets."""
    stage = StatementStage({}, {})
    _february(stage, down=3)
    at = FINAL_AT + timedelta(hours=1)
    stage.refresh(at, mono=0.0)
    ready = stage.ready_outputs(mono=10.0, settle=5.0)
    stage.confirm([o for _, o in ready])
    stored = dict(stage.events)
    _february(stage, down=3)  # the same contract event and minute states again
    assert not stage.dirty
    assert stage.events == stored
    assert stage.refresh(at + timedelta(minutes=1), mono=20.0, force=True) == 0
    assert stage.ready_outputs(mono=30.0, settle=5.0) == []


def test_outputs_not_confirmed_are_published_again_with_the_same_revision() -> None:
    """A crash between publishing and confirming: the next owner publishes them again."""
    events: dict[str, bytes] = {}
    emitted: dict[str, bytes] = {}
    _february(StatementStage(events, emitted), down=3)
    stage = _owner(events, emitted)
    (sent,) = _statement(stage.ready_outputs(mono=10.0, settle=5.0))
    # never confirmed: a new stage over the same tables (the next owner, after a rebuild)
    again = _owner(events, emitted)
    ready = again.ready_outputs(mono=10.0, settle=5.0)
    (resent,) = _statement(ready)
    assert {**resent, "computed_at": None} == {**sent, "computed_at": None}
    again.confirm([o for _, o in ready])
    # confirmed: a third owner has nothing to publish
    third = _owner(events, emitted)
    assert _statement(third.ready_outputs(mono=10.0, settle=5.0)) == []


def _owner(events: dict[str, bytes], emitted: dict[str, bytes]) -> StatementStage:
    """The next owner of the partition: a stage over its tables, rebuilt, recomputed."""
    stage = StatementStage(events, emitted)
    stage.rebuild()
    stage.refresh(FINAL_AT + timedelta(hours=1), mono=0.0)
    return stage


@pytest.mark.parametrize(
    "poison",
    [
        b"{}",
        b"[1]",
        b"not json",
        b'"final"',
        b'{"digest": 5, "revision": 0, "status": "final"}',
        b'{"digest": "d", "revision": "1", "status": "final"}',
        b'{"digest": "d", "revision": -1, "status": "final"}',
        b'{"digest": "d", "revision": true, "status": "final"}',
        b'{"digest": "d", "revision": 0, "status": "published"}',
    ],
)
def test_a_record_of_publication_that_is_not_one_is_skipped_and_its_output_sent_again(
    poison: bytes,
) -> None:
    """A poison value in the table of what was published never stops a partition publishing.

    Every recomputation reads that record, so one that raised there would
    hold back every output of the partition, at every cycle, for good.
    """
    events: dict[str, bytes] = {}
    emitted: dict[str, bytes] = {}
    _february(StatementStage(events, emitted), down=3)
    stage = _owner(events, emitted)
    ready = stage.ready_outputs(mono=10.0, settle=5.0)
    stage.confirm([o for _, o in ready])
    (sent,) = _statement(ready)
    key = f"contract_month|{topics.output_key(sent).decode()}"
    assert key in emitted
    assert len(emitted) > 1
    emitted[key] = poison
    again = _owner(events, emitted)
    assert again.folder.stats.unreadable_state == 1
    resent = again.ready_outputs(mono=10.0, settle=5.0)
    # only the output whose record was skipped; the others' records still hold
    assert [o for _, o in resent] == _statement(resent)
    assert {**_statement(resent)[0], "computed_at": None} == {**sent, "computed_at": None}
    again.confirm([o for _, o in resent])
    third = _owner(events, emitted)
    assert third.folder.stats.unreadable_state == 0
    assert third.ready_outputs(mono=10.0, settle=5.0) == []
