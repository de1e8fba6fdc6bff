"""The worker's two stages chained in one process give what replay gives, with no broker.

What the worker runs over Kafka, minus Kafka: every line of a simulated month
goes to the probe stage as if read from the probe topic (it folds the probes
and forwards the other events to their topics), its messages are routed to
the statement partitions as the router agent routes them, and each
partition's statement stage folds them and publishes once. The outputs, the
latest per key over all partitions, are replay's; so are the dead letters.
The integration tests hold the same over a real broker, with restarts; this
holds it in seconds for every change of the stages.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import iter_lines, replay_lines
from schemas.codec import dumps_output
from sla.model import JSON
from streams import router, topics
from streams.ledgerstore import LedgerStore
from streams.messages import Outgoing
from streams.probestage import ProbeStage
from streams.statementstage import StatementStage

SCENARIO = Scenario(
    services=("api", "web"),
    regions=("eu-west-1", "us-east-1"),
    duplicate_rate=0.02,
    probe_days=8,
)


def _stages(lines: list[bytes], as_of: datetime, batch: int) -> tuple[dict[bytes, JSON], list[str]]:
    """The chain over ``lines``, ``batch`` at a time: (latest output per key, dead reasons)."""
    probe = ProbeStage(LedgerStore())
    n = router.STATEMENT_PARTITIONS
    stages = {p: StatementStage({}, {}, primary=p == router.PRIMARY) for p in range(n)}
    dead: list[Outgoing] = []
    for start in range(0, len(lines), batch):
        chunk = lines[start : start + batch]
        sources = [{"file": "month.jsonl", "line": start + i + 1} for i in range(len(chunk))]
        items: dict[int, list[tuple[str, bytes, dict[str, object]]]] = {p: [] for p in stages}
        for msg in probe.process(chunk, sources):
            if msg.topic == topics.DEAD_LETTERS.name:
                dead.append(msg)
                continue
            for p in router.targets(msg.topic, msg.value, n):
                items[p].append((msg.topic, msg.value, {"topic": msg.topic}))
        for p, stage in stages.items():
            dead.extend(stage.process(items[p]))
    latest: dict[bytes, JSON] = {}
    for stage in stages.values():
        stage.refresh(as_of, force=True)
        ready = stage.ready_outputs()
        stage.confirm([out for _, out in ready])
        for msg, out in ready:
            latest[msg.key + b"|" + msg.topic.encode()] = out
    reasons = [json.loads(m.value)["reason"] for m in dead]
    return latest, reasons


#: mid-month, with probes of later minutes already in the lines (replay leaves them out)
MID_MONTH = datetime(2026, 3, 5, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(("batch", "mid_month"), [(500, False), (100_000, False), (500, True)])
def test_the_two_stages_give_the_replay_outputs_and_dead_letters(
    tmp_path: Path, batch: int, mid_month: bool
) -> None:
    path = tmp_path / "month.jsonl"
    write_jsonl(SCENARIO, str(path))
    with path.open("rb") as fh:
        lines = [raw for _, raw in iter_lines(fh)]
    as_of = MID_MONTH if mid_month else default_as_of(SCENARIO)
    replayed = replay_lines(list(enumerate(lines, start=1)), as_of)
    latest, reasons = _stages(lines, as_of, batch)
    assert sorted(dumps_output(o) for o in latest.values()) == sorted(
        dumps_output(o) for o in replayed.outputs
    )
    assert Counter(reasons) == Counter(d.reason for d in replayed.dead_letters)
    # the month held what makes the comparison worth it
    kinds = Counter(o["kind"] for o in replayed.outputs)
    assert kinds["contract_month"] > 0
    assert kinds["service_month"] > 0
    assert kinds["claim_decision"] == (0 if mid_month else 2)  # the claims come later
    statuses = {o["status"] for o in replayed.outputs if o["kind"] == "contract_month"}
    assert statuses == ({"provisional"} if mid_month else {"provisional", "revised"})
    assert replayed.dead_letters
