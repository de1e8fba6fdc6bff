"""Poison input never stops a stage (SPEC section 10).

Each case feeds the real poison: instants outside the accepted range, a
900 kB probe, lines that only make sense glued to a neighbour, corrupt
minute-state messages and stored values a restore cannot read (a valid
event that fails while folding is the fold's own case, in
``tests/unit/fold/test_folder.py``). What must hold: the poison is
dead-lettered (or, for a stored value, skipped and counted) with the right
reason, everything else is still folded, and no dead letter outgrows a
Kafka message.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas.codec import Rejected, decode, dumps
from schemas.events import ProbeEvent
from sla.months import Month, month_bounds
from sla.probes import DOWN, MinuteStates
from streams import topics
from streams.ledgerstore import LedgerStore
from streams.probestage import ProbeStage
from streams.statementstage import StatementStage
from tests.helpers import compact_line, contract, incident, probe, probe_lines

BIN = Path(sys.executable).parent
#: The broker's default message limit (``message.max.bytes``).
KAFKA_LIMIT = 1_048_588


# -- the probe stage ------------------------------------------------------------------------


def test_the_probe_stage_dead_letters_every_poison_probe_and_folds_the_rest() -> None:
    stage = ProbeStage(LedgerStore())
    poison = {
        "0001": compact_line(probe("api", "eu", "0001-01-01T00:00:00Z", False, "p-0001")),
        "9999": compact_line(probe("api", "eu", "9999-12-31T23:59:00Z", False, "p-9999")),
        "900kB": compact_line(
            probe("api", "eu", "2026-03-05T10:00:00Z", False, "p-big") | {"error": "x" * 900_000}
        ),
    }
    good = probe_lines("api", 20)
    batch = [*good[:10], *poison.values(), *good[10:]]
    sources = [
        {"topic": topics.PROBES.name, "partition": 0, "offset": n} for n in range(len(batch))
    ]
    out = stage.process(batch, sources)
    letters = [json.loads(m.value) for m in out if m.topic == topics.DEAD_LETTERS.name]
    assert [(d["source"]["offset"], d["reason"]) for d in letters] == [
        (10, "out_of_range"),
        (11, "out_of_range"),
        (12, "oversize"),
    ]
    assert max(len(m.value) for m in out) < KAFKA_LIMIT // 2
    big = letters[2]
    assert (big["raw_truncated"], big["raw_size"]) == (True, len(poison["900kB"]))
    states = [m for m in out if m.topic == topics.MINUTE_STATES.name]
    assert [m.key for m in states] == [b"api|2026-03"]
    assert stage.stats.events == {"probe": 20}


def test_the_probe_stage_skips_a_stored_ledger_value_it_cannot_read() -> None:
    store = LedgerStore()
    writer = ProbeStage(store)
    writer.process(
        probe_lines("api", 5, ok=False, day=5) + probe_lines("api", 5, ok=False, day=6), [{}] * 10
    )
    writer.save()
    [day5, _] = sorted(k for k in store if k.startswith("api|2026-03|eu|"))
    store.load(day5, store[day5][:-7])  # a slice cut short
    assert store.load("api|0001-01|eu|01", b"from before the range was enforced") is False
    assert store.load("not a ledger key", b"?") is False
    assert store.unreadable == 2
    reader = ProbeStage(store)
    out = reader.process(probe_lines("api", 1, day=7), [{}])
    assert reader.stats.unreadable_state == 1
    [states] = [m for m in out if m.topic == topics.MINUTE_STATES.name]
    body = MinuteStates.from_bytes(states.value.partition(b"\n")[2])
    first = month_bounds(Month(2026, 3))[0]
    down = np.flatnonzero(body.minute_states(reader.settings.probe_policy) == DOWN)
    # day 6 was restored, day 5 (unreadable) was skipped, day 7 is the new probe (up)
    assert sorted({(int(m) + first) // 1440 - first // 1440 + 1 for m in down}) == [6]


# -- the statement stage --------------------------------------------------------------------


def _states_message(service: str, month: str, body: bytes) -> bytes:
    return json.dumps({"service": service, "month": month}).encode() + b"\n" + body


def test_the_statement_stage_dead_letters_unreadable_minute_states_and_goes_on() -> None:
    stage = StatementStage({}, {})
    good_states = MinuteStates(*month_bounds(Month(2026, 3))[:1], np.zeros(44640, np.int8), 1)
    corrupt = good_states.to_bytes()[:-10]
    items = [
        (topics.MINUTE_STATES.name, _states_message("api", "2026-03", corrupt), {"offset": 0}),
        (
            topics.MINUTE_STATES.name,
            _states_message("api", "0001-01", good_states.to_bytes()),
            {"offset": 1},
        ),
        (
            topics.MINUTE_STATES.name,
            _states_message("api", "2026-04", good_states.to_bytes()),
            {"offset": 2},
        ),
        (topics.MINUTE_STATES.name, b"not json\n", {"offset": 3}),
        (topics.CONTRACTS.name, compact_line(contract()), {"offset": 4}),
        (
            topics.MINUTE_STATES.name,
            _states_message("api", "2026-03", good_states.to_bytes()),
            {"offset": 5},
        ),
    ]
    out = stage.process(items)
    letters = [json.loads(m.value) for m in out]
    assert [(d["source"]["offset"], d["reason"]) for d in letters] == [
        (n, "processing_error") for n in range(4)
    ]
    assert sorted(stage.events) == ["contract|PO-1|0|contract-PO-1-0", "states|api|2026-03"]
    assert stage.book.contract("PO-1") is not None


def test_a_worker_rebuilds_even_when_its_stores_hold_poison() -> None:
    good = compact_line(incident("I-1", ["api"], "2026-03-05T10:00:00Z", "2026-03-05T10:30:00Z"))
    poisoned_incident = compact_line(incident("I-2", ["api"], "0001-01-01T00:00:00Z", None))
    states = MinuteStates(month_bounds(Month(2026, 3))[0], np.zeros(44640, np.int8), 1).to_bytes()
    events = {
        "incident|I-1|0|i-1": good,
        "incident|I-2|0|i-2": poisoned_incident,  # stored before the range was enforced
        "contract|PO-1|0|c": compact_line(contract()),
        "states|api|0001-01": _states_message("api", "0001-01", states),
        "states|api|2026-03": _states_message("api", "2026-03", states),
        "states|web|2026-03": _states_message("web", "2026-03", struct.pack(">qqI", 0, 1, 5)),
    }
    stage = StatementStage(events, {})
    stage.rebuild()
    assert stage.ready
    assert stage.folder.stats.unreadable_state == 3
    assert sorted(stage.book.incidents) == ["I-1"]
    assert sorted(stage.book.ledgers) == [("api", Month(2026, 3))]
    ready = stage.emit(datetime(2026, 4, 2, tzinfo=UTC))
    assert any(out["kind"] == "contract_month" for _, out in ready)


# -- availability replay of a month plus the poison lines -------------------------------------


def _issue_lines() -> list[bytes]:
    """The poison of issue 13: out-of-range and oversize probes, torn and glued lines."""
    one = {"type": "probe", "service": "api", "region": "eu-west-1", "ok": False}
    a = compact_line(one | {"event_id": "x-a", "observed_at": "2026-03-05T10:00:00Z"})
    b = compact_line(one | {"event_id": "x-b", "observed_at": "2026-03-05T10:01:00Z"})
    cut = compact_line(
        one | {"event_id": "x-c", "observed_at": "2026-03-05T10:02:00Z", "error": "xy"}
    )
    return [
        compact_line(one | {"event_id": "x-0001", "observed_at": "0001-01-01T00:00:00Z"}),
        compact_line(one | {"event_id": "x-9999", "observed_at": "9999-12-31T23:59:00Z"}),
        compact_line(
            one
            | {"event_id": "x-big", "observed_at": "2026-03-05T10:03:00Z", "error": "e" * 900_000}
        ),
        cut[:-3],  # an unterminated string ...
        b'y"}',  # ... that this line would close ...
        a + b"," + b,  # ... and two objects on one line
        compact_line(incident("I-0001", ["api"], "0001-01-01T00:00:00Z", "9999-12-31T23:59:00Z")),
    ]


REASONS = [
    "out_of_range",
    "out_of_range",
    "oversize",
    "invalid_json",
    "invalid_json",
    "invalid_json",
    "out_of_range",
]


def test_replay_of_a_month_with_the_poison_lines_exits_with_outputs_and_dead_letters(
    tmp_path: Path,
) -> None:
    sc = Scenario(services=("api", "web"), regions=("eu-west-1", "us-east-1"), probe_days=3)
    month = tmp_path / "march.jsonl"
    write_jsonl(sc, str(month))
    with month.open("rb") as fh:
        lines = [raw for _, raw in iter_lines(fh)]
    as_of = default_as_of(sc)
    clean = replay_lines(list(enumerate(lines, start=1)), as_of)
    # the poison among copies of non-probe lines (a copy counts once), so the batch
    # holds many lines the bulk probe decoder leaves to the canonical path
    others = [raw for raw in lines if not isinstance(decode(raw), Rejected | ProbeEvent)][:8]
    poison = _issue_lines()
    at = len(lines) // 2
    mixed = [*lines[:at], *others, *poison, *others, *lines[at:]]
    path = tmp_path / "poisoned.jsonl"
    path.write_bytes(b"\n".join(mixed) + b"\n")
    dl_path = tmp_path / "dead.jsonl"
    proc = subprocess.run(
        [
            str(BIN / "availability"),
            "replay",
            str(path),
            "--as-of",
            as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--format",
            "jsonl",
            "--store",
            "none",
            "--dead-letters",
            str(dl_path),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert b"Traceback" not in proc.stderr
    got = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert got == [json.loads(dumps(o)) for o in clean.outputs]
    assert any(o["kind"] == "contract_month" and o["contract_id"] == "PO-1001" for o in got)
    letters = [json.loads(x) for x in dl_path.read_text().splitlines()]
    first = at + len(others) + 1  # line number of the first poison line
    mine = [d for d in letters if first <= d["source"]["line"] < first + len(poison)]
    assert [(d["source"]["line"], d["reason"]) for d in mine] == [
        (first + k, reason) for k, reason in enumerate(REASONS)
    ]
    assert len(letters) == len(clean.dead_letters) + len(poison)
    assert max(len(x) for x in dl_path.read_bytes().splitlines()) < KAFKA_LIMIT // 2
    assert mine[2]["raw_truncated"] is True
