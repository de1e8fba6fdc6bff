"""The worker's two stages chained in one process give what replay gives, with no broker.

What the worker runs over Kafka, minus Kafka (:func:`devkit.stagechain.run_stages`):
every line of a simulated month through the probe stage, its messages routed
to the statement partitions as the router agent routes them, each partition
folded and published once. The outputs, the latest per key over all
partitions, are replay's; so are the dead letters. The integration tests
hold the same over a real broker, with restarts; this holds it in seconds
for every change of the stages.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devkit.simulate import Scenario, default_as_of, write_jsonl
from devkit.stagechain import run_stages
from fold.replay import iter_lines, replay_lines
from schemas.codec import dumps_output

SCENARIO = Scenario(
    services=("api", "web"),
    regions=("eu-west-1", "us-east-1"),
    duplicate_rate=0.02,
    probe_days=8,
)


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
    staged = run_stages(lines, as_of, batch)
    assert sorted(dumps_output(o) for o in staged.outputs.values()) == sorted(
        dumps_output(o) for o in replayed.outputs
    )
    assert Counter(staged.dead_reasons()) == Counter(d.reason for d in replayed.dead_letters)
    # the month held what makes the comparison worth it
    kinds = Counter(o["kind"] for o in replayed.outputs)
    assert kinds["contract_month"] > 0
    assert kinds["service_month"] > 0
    assert kinds["claim_decision"] == (0 if mid_month else 2)  # the claims come later
    statuses = {o["status"] for o in replayed.outputs if o["kind"] == "contract_month"}
    assert statuses == ({"provisional"} if mid_month else {"provisional", "revised"})
    assert replayed.dead_letters


def test_a_crash_before_the_commit_redelivers_a_batch_that_changes_no_output(
    tmp_path: Path,
) -> None:
    """The stages made anew from their stores meet the last batch again: nothing doubles."""
    path = tmp_path / "month.jsonl"
    write_jsonl(SCENARIO, str(path))
    with path.open("rb") as fh:
        lines = [raw for _, raw in iter_lines(fh)]
    as_of = default_as_of(SCENARIO)
    replayed = replay_lines(list(enumerate(lines, start=1)), as_of)
    batch = len(lines) // 5 + 1
    staged = run_stages(lines, as_of, batch, crash_after=3)
    assert sorted(dumps_output(o) for o in staged.outputs.values()) == sorted(
        dumps_output(o) for o in replayed.outputs
    )
    # the batch given again dead-letters its bad lines again, as the worker does
    assert set(staged.dead_reasons()) == {d.reason for d in replayed.dead_letters}
    assert len(staged.dead_letters) >= len(replayed.dead_letters)
