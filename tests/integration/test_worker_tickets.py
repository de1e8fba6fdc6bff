"""Support tickets on a running worker: alerts when the moment passes, with no new event.

A High ticket is opened at 22:15 (deadline 2 hours later, at risk at 75 %,
23:45). The worker's clock starts at 00:14 and runs at real speed; nothing
is produced after the worker starts, yet a ``ticket_alert`` ``breached``
must be published once its clock passes 00:15, and the verdict must turn
``breached``.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from devkit.localkafka import LocalKafka
from sla.timeutil import parse_instant
from streams import topics
from tests.integration.worker_process import WorkerProcess
from tools.produce import consume_outputs, produce_lines

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

OPENED = {
    "type": "ticket_opened",
    "event_id": "ticket_opened-T-1",
    "ticket_id": "T-1",
    "client_id": "client-1",
    "severity": "high",
    "channel": "email",
    "opened_at": "2026-03-14T22:15:00Z",
}
CLOCK_START = "2026-03-15T00:14:00Z"
#: worker clock 00:15:00 is this long after the worker process starts
TO_DEADLINE = 60.0


def _alerts(bootstrap: str) -> dict[str, tuple[dict[str, object], float]]:
    """``alert`` -> (latest ticket_alert of T-1, its Kafka timestamp in seconds)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topics.SUPPORT.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1500,
        group_id=None,
    )
    found: dict[str, tuple[dict[str, object], float]] = {}
    try:
        for msg in consumer:
            out = json.loads(msg.value)
            if out.get("kind") == "ticket_alert" and out.get("ticket_id") == "T-1":
                found[str(out["alert"])] = (out, msg.timestamp / 1000)
    finally:
        consumer.close()
    return found


def test_breach_is_published_when_the_deadline_passes_without_a_new_event(
    tmp_path: Path,
) -> None:
    with LocalKafka() as kafka:
        bootstrap = kafka.bootstrap_servers
        produce_lines([json.dumps(OPENED).encode()], bootstrap)
        started = time.time()
        worker = WorkerProcess(bootstrap, tmp_path, "", clock_start=CLOCK_START)
        try:
            deadline = time.monotonic() + 240
            alerts = _alerts(bootstrap)
            while time.monotonic() < deadline and "breached" not in alerts:
                time.sleep(2)
                alerts = _alerts(bootstrap)
            verdicts = [
                json.loads(v)
                for _, _, v in consume_outputs(bootstrap, [topics.SUPPORT.name], timeout_ms=1500)
                if json.loads(v).get("kind") == "ticket_verdict"
            ]
        finally:
            worker.stop()
    assert set(alerts) == {"at_risk", "breached"}
    at_risk, _ = alerts["at_risk"]
    breached, published = alerts["breached"]
    assert at_risk["at"] == "2026-03-14T23:45:00Z"
    assert breached["at"] == "2026-03-15T00:15:00Z"
    assert breached["deadline"] == "2026-03-15T00:15:00Z"
    # published once the worker's clock had passed the deadline, not before
    assert published >= started + TO_DEADLINE - 1
    # re-evaluated at the moment (a timer), not at the next 30 s refresh
    computed = parse_instant(str(breached["computed_at"]))
    assert timedelta(0) <= computed - parse_instant("2026-03-15T00:15:00Z") <= timedelta(seconds=3)
    assert verdicts[-1]["status"] == "breached"
