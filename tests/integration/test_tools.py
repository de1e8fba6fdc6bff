"""The prober, the incident and claim commands and the billing consumer on a real broker.

One broker serves the whole module: each test works on its own services,
incident ids, contracts and consumer state, and reads topics to their end.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from devkit.localkafka import LocalKafka
from schemas.codec import decode
from schemas.events import ClaimEvent, IncidentEvent, ProbeEvent
from sla.timeutil import parse_instant
from streams import topics
from tests.helpers import claim, contract, one, probes_every_minute
from tools.creditbook import CreditBook
from tools.produce import producer, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def broker(local_kafka_tools: None) -> Iterator[str]:
    with LocalKafka() as kafka:
        yield kafka.bootstrap_servers


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(4)
        code = 503 if self.path == "/down" else 200
        try:
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the prober gave up on the slow response

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _event_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The event a command that succeeds prints."""
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    event: dict[str, Any] = json.loads(out)
    return event


def test_probe_publishes_one_validated_event_per_target_keyed_by_service(
    broker: str, http: str, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.json"
    targets.write_text(
        json.dumps(
            [
                {"service": "probe-ok", "url": f"{http}/ok"},
                {"service": "probe-down", "url": f"{http}/down"},
                {"service": "probe-slow", "url": f"{http}/slow"},
            ]
        ),
        encoding="utf-8",
    )
    before = datetime.now(UTC)
    proc = subprocess.run(
        [
            str(BIN / "availability"),
            "probe",
            "--targets",
            str(targets),
            "--region",
            "eu-west-1",
            "--timeout",
            "1",
            "--once",
            "--bootstrap",
            broker,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    after = datetime.now(UTC)
    assert proc.returncode == 0, proc.stderr
    assert "probed 3 targets from eu-west-1: 1 ok, 2 failed" in proc.stderr
    printed = {e["service"]: e for e in map(json.loads, proc.stdout.splitlines())}
    msgs = [m for m in read_topic(broker, topics.PROBES.name) if m.key.startswith(b"probe-")]
    assert sorted(m.key for m in msgs) == [b"probe-down", b"probe-ok", b"probe-slow"]
    for m in msgs:
        ev = decode(m.value)
        assert isinstance(ev, ProbeEvent)
        assert ev.service == m.key.decode()
        assert ev.region == "eu-west-1"
        assert before <= ev.observed_at <= after
        assert json.loads(m.value) == printed[ev.service]
    got = {
        m.key.decode(): (e["ok"], e.get("status_code"), e.get("error"))
        for m in msgs
        for e in [json.loads(m.value)]
    }
    assert got == {
        "probe-ok": (True, 200, None),
        "probe-down": (False, 503, "unexpected status 503"),
        "probe-slow": (False, None, "timeout after 1s"),
    }


def _incident_events(broker: str, incident_id: str) -> list[tuple[bytes, dict[str, Any]]]:
    return [
        (m.key, json.loads(m.value))
        for m in read_topic(broker, topics.INCIDENTS.name)
        if m.key.startswith(f"{incident_id}|".encode())
    ]


def test_incident_commands_take_the_next_revision_from_the_topic(
    broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--bootstrap", broker, "--incident", "INC-T1"]
    declared = _event_of(
        [
            *("incident", "declare", *base, "--services", "api,web"),
            *("--started-at", "2026-03-10T00:00:00Z", "--title", "API returning 503s"),
            *("--recorded-at", "2026-03-10T00:05:00Z"),
        ],
        capsys,
    )
    assert (declared["revision"], declared["status"], declared["cause"]) == (0, "open", "internal")
    updated = _event_of(["incident", "update", *base, "--ended-at", "2026-03-10T00:50:00Z"], capsys)
    assert (updated["revision"], updated["status"], updated["ended_at"]) == (
        1,
        "resolved",
        "2026-03-10T00:50:00Z",
    )
    reclassified = _event_of(["incident", "reclassify", *base, "--cause", "aws"], capsys)
    kept = ("services", "started_at", "ended_at", "impact", "status", "title")
    assert reclassified["revision"] == 2
    assert reclassified["cause"] == "aws"
    assert {k: reclassified[k] for k in kept} == {k: updated[k] for k in kept}
    retracted = _event_of(["incident", "retract", *base], capsys)
    assert (retracted["revision"], retracted["status"], retracted["cause"]) == (
        3,
        "retracted",
        "aws",
    )

    recorded = _incident_events(broker, "INC-T1")
    assert [e for _, e in recorded] == [declared, updated, reclassified, retracted]
    for key, ev in recorded:
        assert key == f"INC-T1|{ev['revision']}|{ev['event_id']}".encode()
        assert isinstance(decode(json.dumps(ev).encode()), IncidentEvent)
    # each revision's knowledge time is when it was recorded
    assert parse_instant(retracted["recorded_at"]) > parse_instant(declared["recorded_at"])

    rc, _, err = _run(["incident", "declare", *base, "--services", "api"], capsys)
    assert rc == 1
    assert "already exists (revision 3)" in err
    unknown = ["--bootstrap", broker, "--incident", "INC-NONE", "--cause", "aws"]
    rc, _, err = _run(["incident", "reclassify", *unknown], capsys)
    assert rc == 1
    assert "declare it first" in err
    assert len(_incident_events(broker, "INC-T1")) == 4
    assert _incident_events(broker, "INC-NONE") == []


def test_claim_is_published_as_received(broker: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(
        [
            "claim",
            "--bootstrap",
            broker,
            "--claim-id",
            "CLM-T1",
            "--contract",
            "PO-T1",
            "--submitted-at",
            "2026-03-12T08:00:00Z",
            "--subject",
            "SLA Credit Request",
            "--interval",
            "2026-03-10T00:00:00Z/2026-03-10T00:50:00Z",
            "--interval",
            "2026-03-11T00:00:00Z/2026-03-11T00:10:00Z",
            "--contact",
            "ops@example.com",
        ],
        capsys,
    )
    assert rc == 0, err
    printed = json.loads(out)
    [msg] = [m for m in read_topic(broker, topics.CLAIMS.name) if m.key == b"CLM-T1"]
    assert json.loads(msg.value) == printed
    ev = decode(msg.value)
    assert isinstance(ev, ClaimEvent)
    assert (ev.contract_id, ev.subject, len(ev.incidents), ev.contact) == (
        "PO-T1",
        "SLA Credit Request",
        2,
        "ops@example.com",
    )


# --- billing -------------------------------------------------------------------------

AS_OF = "2026-05-01T00:00:00Z"
EVENTS = [
    contract("PO-B1", services={"api": "1000.00"}),
    *probes_every_minute("api", "2026-03-10T00:00:00Z", 50, ok=False),
    claim(
        "CLM-B1",
        "PO-B1",
        "2026-03-12T00:00:00Z",
        [("2026-03-10T00:00:00Z", "2026-03-10T01:00:00Z")],
    ),
]


def _publish(broker: str, outputs: list[dict[str, Any]]) -> None:
    topics.ensure_topics(broker)
    prod = producer(broker)
    try:
        for o in outputs:
            prod.send(
                topics.OUTPUT_FOR_KIND[o["kind"]].name,
                key=topics.output_key(o),
                value=json.dumps(o).encode(),
            )
        prod.flush()
    finally:
        prod.close()


def _rows(out: str) -> dict[str, dict[str, Any]]:
    rows = [json.loads(ln) for ln in out.splitlines()]
    return {r.get("month") or r["claim_id"]: r for r in rows if r.get("contract_id") == "PO-B1"}


def test_billing_keeps_the_latest_revision_and_resumes_from_its_state(
    broker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r0 = one(EVENTS, AS_OF, "contract_month", contract_id="PO-B1", month="2026-03")
    decision = one(EVENTS, AS_OF, "claim_decision", claim_id="CLM-B1")
    provisional = {**r0, "status": "provisional", "computed_at": "2026-03-10T01:00:00Z"}
    r1 = {**r0, "status": "revised", "revision": 1, "credit_amount": "0.00", "credit_percent": "0"}
    # out of order and redelivered: the provisional figure and revision 0 arrive after revision 1
    _publish(broker, [r0, r1, provisional, r0, decision])
    state = tmp_path / "billing.json"
    argv = ["billing", "--bootstrap", broker, "--group", "billing-t1", "--state", str(state)]
    rc, out, err = _run([*argv, "--once", "--format", "jsonl"], capsys)
    assert rc == 0, err
    rows = _rows(out)
    assert set(rows) == {"2026-03", "CLM-B1"}
    march = rows["2026-03"]
    assert (march["status"], march["revision"], march["credit_amount"]) == ("revised", 1, "0.00")
    assert march["claims"] == ["CLM-B1"]
    assert rows["CLM-B1"]["decision"] == "accepted"

    # a restart continues from the state file: what it already read is not read again
    saved = json.loads(state.read_text())
    del saved["statements"]["PO-B1|2026-03"]
    state.write_text(json.dumps(saved))
    april = {**r0, "month": "2026-04", "status": "provisional", "credit_amount": "0.00"}
    _publish(broker, [april])
    rc, out, err = _run([*argv, "--once", "--format", "jsonl"], capsys)
    assert rc == 0, err
    assert set(_rows(out)) == {"2026-04", "CLM-B1"}
    book = CreditBook.load(state)
    assert "PO-B1|2026-03" not in book.statements

    # the group's committed offsets follow the state (consumer-lag monitoring)
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    probe = KafkaConsumer(bootstrap_servers=broker, group_id="billing-t1", enable_auto_commit=False)
    try:
        for key, pos in book.positions.items():
            topic, part = key.rsplit(":", 1)
            assert probe.committed(TopicPartition(topic, int(part))) == pos
    finally:
        probe.close()

    # with no state file the compacted topics are read from the beginning again
    rc, out, err = _run(
        ["billing", "--bootstrap", broker, "--state", str(tmp_path / "fresh.json"), "--once"],
        capsys,
    )
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "Credits"
    po = [ln.split() for ln in lines if ln.startswith("PO-B1 ")]
    assert [(p[1], p[2], p[3]) for p in po] == [
        ("2026-03", "revised", "r1"),
        ("2026-04", "provisional", "r0"),
    ]


def test_billing_follows_new_revisions_until_sigterm(broker: str, tmp_path: Path) -> None:
    r0 = one(EVENTS, AS_OF, "contract_month", contract_id="PO-B1", month="2026-03")
    r0 = {**r0, "contract_id": "PO-B2"}
    state = tmp_path / "billing.json"
    log = (tmp_path / "billing.log").open("wb")
    proc = subprocess.Popen(
        [
            str(BIN / "availability"),
            "billing",
            "--bootstrap",
            broker,
            "--state",
            str(state),
            "--format",
            "jsonl",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    seen: list[dict[str, Any]] = []

    def printed_until(revision: int) -> None:
        while not any(r.get("contract_id") == "PO-B2" and r["revision"] == revision for r in seen):
            seen.append(json.loads(lines.get(timeout=90)))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        _publish(broker, [r0])
        printed_until(0)
        # a redelivered revision 0 then revision 1, in one partition: only revision 1 prints
        _publish(broker, [r0, {**r0, "status": "revised", "revision": 1}])
        printed_until(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "billing.log").read_text()
        reader.join(timeout=10)
        assert [(r["revision"], r["status"]) for r in seen if r.get("contract_id") == "PO-B2"] == [
            (0, "final"),
            (1, "revised"),
        ]
        assert CreditBook.load(state).statements["PO-B2|2026-03"]["revision"] == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
        log.close()
