"""The worker's two stages chained in one process: its pipeline with the broker left out.

:func:`run_stages` hands every line to a :class:`~streams.probestage.ProbeStage`
as if read from the probe topic (it folds the probes and forwards the other
events to their topics), routes what it returns to the statement partitions
as the router agent does (:func:`streams.router.targets`), folds each
partition's share in a :class:`~streams.statementstage.StatementStage` of
its own, and publishes once as of ``as_of``. What it gives is what the
worker would publish, the latest per key; the tests hold it equal to
replay's, and ``bench/bench_chain.py`` times it against replay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sla.model import JSON
from streams import router, topics
from streams.ledgerstore import LedgerStore
from streams.messages import Outgoing
from streams.probestage import ProbeStage
from streams.statementstage import StatementStage


@dataclass(frozen=True)
class StagesResult:
    """The outputs the stages published (latest per topic and key) and their dead letters."""

    outputs: dict[tuple[str, bytes], JSON]
    dead_letters: list[Outgoing]

    def dead_reasons(self) -> list[str]:
        return [str(json.loads(m.value)["reason"]) for m in self.dead_letters]


def run_stages(
    lines: list[bytes],
    as_of: datetime,
    batch: int = 100_000,
    partitions: int = router.STATEMENT_PARTITIONS,
    crash_after: int | None = None,
) -> StagesResult:
    """The chain over ``lines``, ``batch`` at a time, published once as of ``as_of``.

    With ``crash_after`` the stages crash once that many batches went through
    both: the probe stage's ledgers are saved (its checkpoint) but the input
    offsets not committed, so the last batch is delivered again to stages
    made anew from their stores, as a restarted worker meets it. Its dead
    letters are then given twice, as the worker's dead-letter topic gets them
    (at least once).
    """
    probe = ProbeStage(LedgerStore())
    stages = {p: StatementStage({}, {}, primary=p == router.PRIMARY) for p in range(partitions)}
    dead: list[Outgoing] = []
    starts = list(range(0, len(lines), batch))
    if crash_after is not None and 0 < crash_after <= len(starts):
        starts.insert(crash_after, starts[crash_after - 1])
    for i, start in enumerate(starts):
        if i == crash_after:
            probe.save()
            probe = ProbeStage(probe.store)
            stages = {
                p: StatementStage(st.events, st.emitted, primary=st.primary)
                for p, st in stages.items()
            }
        chunk = lines[start : start + batch]
        sources = [{"file": "lines", "line": start + n} for n in range(1, len(chunk) + 1)]
        items: dict[int, list[tuple[str, bytes, dict[str, object]]]] = {p: [] for p in stages}
        for msg in probe.process(chunk, sources):
            if msg.topic == topics.DEAD_LETTERS.name:
                dead.append(msg)
                continue
            for p in router.targets(msg.topic, msg.value, partitions):
                items[p].append((msg.topic, msg.value, {"topic": msg.topic}))
        for p, stage in stages.items():
            dead.extend(stage.process(items[p]))
    outputs: dict[tuple[str, bytes], JSON] = {}
    for stage in stages.values():
        stage.refresh(as_of, force=True)
        ready = stage.ready_outputs()
        stage.confirm([out for _, out in ready])
        for msg, out in ready:
            outputs[(msg.topic, msg.key)] = out
    return StagesResult(outputs, dead)
