"""Poison input on a real broker never stops the worker (SPEC section 10, issue 13).

The poison is the real thing: probes at 0001-01-01 and 9999-12-31 (which
crashed month arithmetic), a 900 kB probe (whose dead letter was once over
the broker's 1 MiB message limit), the torn lines that once came back as
valid probes when lines were joined, an incident from year 1, and, already
in the topics before the worker starts:

- values it cannot read in its state: a corrupt probe-ledger slice and a
  ledger key from year 1 in the probe changelog; a stored incident from
  year 1, corrupt minute states and a key that is not UTF-8 in the statement
  stage's table changelog; a record of publication that is not one (for the
  very statement the test waits for) in the changelog of its table of what
  was published;
- what the agents read before the codec: a message on the statement stage's
  own input topic whose source headers do not read, and contracts nested
  past any JSON parser's depth or with a lone surrogate for an id;
- on the dead-letter topic, which the workers count, a message that is not
  a dead letter;
- a corrupt minute-states message.

What must hold: the worker starts and stays up (``/health`` answers), every
poison input is dead-lettered with its reason (a dead letter is found by the
SHA-256 of the whole input, so a truncated copy is found too), each fits a
message, the statements equal ``replay`` of the valid events alone, and
the dead-letter count (``/dead-letters``) has each dead letter once and the
message that is not one as ``unknown``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.probeloop import ledger_topic, service_partition
from streams.router import STATEMENT_PARTITIONS, contract_partition, statement_inputs_topic
from tests.helpers import contract, incident, probes_every_minute
from tests.integration.worker_process import WorkerProcess, replay_outputs, wait_for_outputs
from tools.produce import consume_outputs, produce_lines, route

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

AS_OF = "2026-05-01T00:00:00Z"
APP = "poison"


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def _poison() -> dict[bytes, str]:
    """Each poison input line and the reason it must be dead-lettered with."""
    one = {"type": "probe", "service": "api", "region": "eu-west-1", "ok": False}
    a = _line(one | {"event_id": "x-a", "observed_at": "2026-03-10T00:20:00Z"})
    b = _line(one | {"event_id": "x-b", "observed_at": "2026-03-10T00:21:00Z"})
    cut = _line(one | {"event_id": "x-c", "observed_at": "2026-03-10T00:22:00Z", "error": "xy"})
    big = one | {"event_id": "x-big", "observed_at": "2026-03-10T00:23:00Z", "error": "e" * 900_000}
    return {
        _line(one | {"event_id": "x-0001", "observed_at": "0001-01-01T00:00:00Z"}): "out_of_range",
        _line(one | {"event_id": "x-9999", "observed_at": "9999-12-31T23:59:00Z"}): "out_of_range",
        _line(big): "oversize",
        cut[:-3]: "invalid_json",  # an unterminated string ...
        b'y"}': "invalid_json",  # ... this line would close ...
        a + b"," + b: "invalid_json",  # ... and two objects on one line
        _line(incident("I-0001", ["api"], "0001-01-01T00:00:00Z", None)): "out_of_range",
    }


def _stage2_changelog(table: str) -> topics.TopicSpec:
    """The changelog of the statement stage's Faust table ``stage2-<table>``."""
    return topics.TopicSpec(
        f"{APP}-stage2-{table}-changelog",
        "partition|key",
        STATEMENT_PARTITIONS,
        {"cleanup.policy": "compact"},
        "stage 2",
    )


def _poison_state(bootstrap: str) -> bytes:
    """Values the worker cannot read, put in its state topics before it starts.

    Returns the corrupt minute-states message (it is an input of the
    statement stage, so it is dead-lettered rather than skipped).
    """
    from kafka import KafkaProducer

    events, emitted = _stage2_changelog("events"), _stage2_changelog("emitted")
    ledgers = ledger_topic(APP)
    topics.ensure_topics(bootstrap)
    topics.ensure_topics(bootstrap, specs=[ledgers, events, emitted])
    part = service_partition("api", ledgers.partitions)
    states = json.dumps({"service": "api", "month": "2026-03"}).encode() + b"\nnot states"
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key, value in (
            (b"api|2026-03|eu-west-1|20", b"\x02 not a ledger slice"),  # a day without probes
            (b"api|0001-01|eu-west-1|01", b"\x02 from year 1"),
        ):
            producer.send(ledgers.name, key=key, value=value, partition=part)
        stored = _line(incident("I-OLD", ["api"], "0001-01-01T00:00:00Z", None))
        for key, value in (
            # the primary statement partition's state: keys carry their partition
            (b"0|incident|I-OLD|0|e-old", stored),
            (b"0|states|web|2026-03", states),
            (b"0|\xff\xfe not UTF-8", stored),  # a key this pipeline never writes
        ):
            producer.send(events.name, key=key, value=value, partition=0)
        # read at every recomputation of its partition: once, it held back all of them
        ours = contract_partition("PO-P")
        producer.send(
            emitted.name,
            key=f"{ours}|contract_month|PO-P|2026-03".encode(),
            value=b'{"digest": 5, "revision": "one"}',
            partition=ours,
        )
        producer.send(topics.MINUTE_STATES.name, key=b"api|2026-03", value=states)
        producer.flush(30)
    finally:
        producer.close()
    return states


#: on the statement stage's own input topic, with source headers that do not read
ROUTED_POISON = b"not an event, routed with source headers that cannot be read"
#: on the contracts topic: nested deeper than a JSON parser goes, under the size limit
DEEP_CONTRACT = b'{"type": "contract", "contract_id": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
#: on the contracts topic: JSON text, but its id (a lone surrogate) is no UTF-8
SURROGATE_CONTRACT = b'{"type": "contract", "contract_id": "PO-\\ud800"}'
#: on the dead-letter topic, which the workers read to count: not a dead letter
NOT_A_DEAD_LETTER = b"[" * 60_000


def _poison_topics(bootstrap: str) -> str:
    """Poison the agents and the dead-letter count read before the codec sees it.

    - On the internal statement-inputs topic, a message whose source headers
      do not read: only the router writes there, but nothing stops another
      producer, and the headers were read before the batch's retries began.
    - On the contracts topic, a line nested deeper than a JSON parser goes,
      and one whose contract id is a lone surrogate, in the router's batch
      with the valid contract: the router reads the contract id before the
      codec.
    - On the dead-letter topic, a message nested as deep: the count reads it.

    Each once crashed its agent (which Faust restarted with the batch
    acknowledged, the valid contract lost) or started its reader again,
    forever. Returns the internal topic's name.
    """
    from kafka import KafkaProducer

    spec = statement_inputs_topic(APP)
    topics.ensure_topics(bootstrap)
    topics.ensure_topics(bootstrap, specs=[spec])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        headers = [("src-topic", b"\xff\xfe"), ("src-partition", b"zero"), ("src-offset", b"-")]
        producer.send(spec.name, value=ROUTED_POISON, partition=0, headers=headers)
        producer.send(topics.CONTRACTS.name, key=b"PO-P", value=DEEP_CONTRACT)
        producer.send(topics.CONTRACTS.name, key=b"PO-P", value=SURROGATE_CONTRACT)
        producer.send(topics.DEAD_LETTERS.name, key=b"not|a|letter", value=NOT_A_DEAD_LETTER)
        producer.flush(30)
    finally:
        producer.close()
    return spec.name


def _dead_letter_counts(worker: WorkerProcess) -> dict[str, int]:
    url = f"http://127.0.0.1:{worker.port}/dead-letters"
    with urllib.request.urlopen(url, timeout=5) as r:
        counts: dict[str, int] = json.loads(r.read())["dead_letters"]
    return counts


def _health(worker: WorkerProcess) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/health", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:  # a degraded worker still answers
        return int(exc.code)


def test_poison_input_and_poisoned_state_never_stop_the_worker(
    broker: str, workers: Callable[..., WorkerProcess]
) -> None:
    valid = [
        _line(contract("PO-P", services={"api": "800.00"})),
        *(_line(e) for e in probes_every_minute("api", "2026-03-10T00:00:00Z", 45, ok=False)),
        *(_line(e) for e in probes_every_minute("api", "2026-03-10T00:45:00Z", 15, ok=True)),
    ]
    poison = _poison()
    bad_states = _poison_state(broker)
    internal = _poison_topics(broker)
    # the poison among the valid events, so it shares batches with them
    produce_lines([*valid[:20], *poison, *valid[20:]], broker)
    expected = replay_outputs(valid, AS_OF)
    worker = workers(broker, AS_OF, app_id=APP)
    got = wait_for_outputs(broker, expected, timeout=150)
    assert worker.proc.poll() is None, worker.log_path.read_text()[-3000:]
    assert _health(worker) in (200, 503)
    assert got == expected
    wanted = {hashlib.sha256(raw).hexdigest(): reason for raw, reason in poison.items()}
    wanted[hashlib.sha256(bad_states).hexdigest()] = "processing_error"
    wanted[hashlib.sha256(ROUTED_POISON).hexdigest()] = "invalid_json"
    wanted[hashlib.sha256(DEEP_CONTRACT).hexdigest()] = "invalid_json"
    wanted[hashlib.sha256(SURROGATE_CONTRACT).hexdigest()] = "invalid_json"
    deadline = time.monotonic() + 60
    letters: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and set(letters) != set(wanted):
        msgs = consume_outputs(broker, [topics.DEAD_LETTERS.name], timeout_ms=1500)
        ours = (json.loads(v) for _, _, v in msgs if v != NOT_A_DEAD_LETTER)
        letters = {d["raw_sha256"]: d for d in ours}
        time.sleep(1)
    assert {h: d["reason"] for h, d in letters.items()} == wanted
    big = next(d for d in letters.values() if d["reason"] == "oversize")
    assert big["raw_truncated"] is True
    assert len(json.dumps(big)) < 512 * 1024
    # the routed poison's source is where it was read: its headers said nothing readable
    inputs = {
        topics.PROBES.name,
        topics.INCIDENTS.name,
        topics.MINUTE_STATES.name,
        topics.CONTRACTS.name,
        internal,
    }
    assert {d["source"]["topic"] for d in letters.values()} <= inputs
    log = worker.log_path.read_text(errors="replace")
    # the restores skipped (and logged) every poisoned value instead of failing
    for skipped in (
        "skipped unreadable key 'api|0001-01|eu-west-1|01'",
        "probe ledger api|2026-03|eu-west-1|20: skipped unreadable stored value",
        # named by their statement partition: a tombstone must go to that one
        "statement partition 0: stored value 'incident|I-OLD|0|e-old' skipped",
        "statement partition 0: stored value 'states|web|2026-03' skipped",
        "statement partition 0: stored value '\\udcff\\udcfe not UTF-8' skipped",
        f"statement partition {contract_partition('PO-P')}: "
        "record of published output 'contract_month|PO-P|2026-03' skipped",
    ):
        assert skipped in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    # the count read past what is not a dead letter, and counted every one that is
    counts: dict[str, int] = {}
    want_counts = {**Counter(wanted.values()), "unknown": 1}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and counts != want_counts:
        counts = _dead_letter_counts(worker)
        time.sleep(0.5)
    assert counts == want_counts
    assert worker.proc.poll() is None
    assert _health(worker) in (200, 503)


#: a Kafka timestamp the broker takes and no ``datetime`` holds (year 10000), in ms
YEAR_10000_MS = 253_402_300_800_000


def test_message_timestamps_no_instant_holds_are_audited_at_the_reader_s_clock(
    broker: str, workers: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    """A producer sets a message's timestamp; the audit trail once failed on it, forever.

    With a store, every received event is written with its Kafka timestamp.
    One stamped in year 10000 raised in that write, which the probe loop and
    the statements agent try again until it succeeds: the stages stalled.
    """
    from kafka import KafkaProducer

    events = [
        contract("PO-T", services={"api": "800.00"}),
        *probes_every_minute("api", "2026-03-10T00:00:00Z", 30, ok=False),
    ]
    lines = [_line(e) for e in events]
    topics.ensure_topics(broker)
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    try:
        for i, raw in enumerate(lines):
            topic, key = route(raw)
            odd = i % 2 == 0  # the contract, and every other probe
            producer.send(topic, key=key, value=raw, timestamp_ms=YEAR_10000_MS if odd else None)
        producer.flush(30)
    finally:
        producer.close()
    db = tmp_path / "store"
    worker = workers(broker, AS_OF, app_id="stamps", store=f"chdb://{db}")
    expected = replay_outputs(lines, AS_OF)
    assert wait_for_outputs(broker, expected, timeout=120) == expected
    time.sleep(3)  # the audit rows are written before the batch is acknowledged
    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    query = (
        "from sinks.store import connect\n"
        f"s = connect('chdb://{db}')\n"
        "rows = s.client.query(\n"
        "    'SELECT count(), countIf(received_at = {t:DateTime64(3)}) '\n"
        "    f'FROM {s.db}.raw_events', parameters={'t': '2026-05-01 00:00:00'}).result_rows\n"
        "print(list(rows[0]))\n"
        "s.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", query], capture_output=True, text=True, timeout=120, check=True
    )
    every, at_the_clock = json.loads(done.stdout.strip().splitlines()[-1])
    # every event audited; those stamped in year 10000 at the worker's clock (--as-of)
    assert (every, at_the_clock) == (len(lines), (len(lines) + 1) // 2)
