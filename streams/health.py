"""Whether the worker can do its job, and the watchdogs and heals that keep it doing it.

:class:`WorkerHealth` says why the worker is degraded (:meth:`degraded`)
and whether it has caught up with its inputs (:attr:`caught_up`), what each
stage is working on, and, from the ``measure_lag`` timer, logs an agent stuck
on one batch (:meth:`_watchdog`) and re-reads a partition or a table
changelog that Faust stopped delivering (:meth:`_heal_stalled`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streams.lag import ConsumerLag
from streams.workerconfig import WorkerConfig

#: one logger for every layer of the worker: its log lines are all ``streams.app``'s
log = logging.getLogger("streams.app")


class WorkerHealth(ConsumerLag):
    """Degraded or not, caught up or not; the watchdog and the heals."""

    def __init__(self, cfg: WorkerConfig) -> None:
        super().__init__(cfg)
        #: agent -> [monotonic start, step] of the batch it is working on
        self._busy: dict[str, list[Any]] = {}
        self._stuck_reported: set[tuple[str, float]] = set()
        #: (committed offset, since) of partitions with lag, to find stalls
        self._stalled_since: dict[tuple[str, int], tuple[int, float]] = {}
        self.reseeks = 0
        #: (recovered offset, since) of table changelogs being recovered
        self._recovery_since: dict[tuple[str, int], tuple[int, float]] = {}
        #: why the statement stage cannot go on (a batch or an emit failing), None while it can
        #: per batch consumer ("statement stage", "router"): why its batch fails
        self._batch_errors: dict[str, str | None] = {}
        self._emit_error: str | None = None

    def degraded(self) -> dict[str, str]:
        """Why the worker cannot do its job now: reason -> detail (empty: it can).

        The reasons are ``sinks.metrics.DEGRADED_REASONS``.
        """
        found: dict[str, str] = {}
        if self.probes.state != "running":
            found["probe_stage_down"] = f"the probe loop is {self.probes.state}" + (
                f" after: {self.probes.last_error}" if self.probes.last_error else ""
            )
        stage2 = (
            self._batch_errors.get("statement stage")
            or self._batch_errors.get("router")
            or self._emit_error
        )
        if stage2 is not None:
            found["statement_stage_down"] = stage2
        if self.sink is not None and not self.sink.store_ok:
            found["store_unavailable"] = f"the store cannot be written: {self.sink.store_error}"
        if not self._lag_fresh():
            found["inputs_unreachable"] = (
                f"the input lag cannot be measured: {self._lag_error}"
                if self._lag_error is not None
                else f"no lag measurement for over {self.cfg.lag_max_age:.0f} s"
            )
        return found

    @property
    def caught_up(self) -> bool:
        """Every input partition read to its end, by a fresh measurement, with every stage up.

        Final statements and claim decisions are held while this is false.
        """
        return not self.degraded() and bool(self.lag) and all(v <= 0 for v in self.lag.values())

    def _busy_now(self) -> dict[str, tuple[float, str]]:
        """What each stage is working on: name -> (monotonic start, step)."""
        busy = {agent: (float(since), str(step)) for agent, (since, step) in self._busy.items()}
        if self.probes.busy is not None:
            busy["probes"] = self.probes.busy
        return busy

    def _watchdog(self, now: float) -> None:
        """Log, once per batch, an agent stuck on one batch for over a minute, with every stack."""
        for agent, (since, step) in self._busy_now().items():
            if now - since < 60 or (agent, since) in self._stuck_reported:
                continue
            self._stuck_reported.add((agent, since))
            stacks = []
            for task in asyncio.all_tasks():
                frames = task.get_stack(limit=8)
                where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
                stacks.append(f"  {task.get_name()}: {where}")
            log.warning(
                "agent %s has been on one batch for %.0f s (step: %s); tasks:\n%s",
                agent,
                now - since,
                step,
                "\n".join(stacks),
            )

    async def _heal_stalled(self, now: float) -> None:
        """Re-read a partition whose committed offset is stuck behind its end.

        Faust drops records that a fetch returns for a partition which is not
        active at that moment (a rebalance or a table recovery in between)
        while the fetch position has already moved past them: those events
        are never delivered, and the offset commit stops at the gap. A
        partition of ours with lag whose committed offset has not moved for
        ``stall_seconds`` while no batch is in hand is sought back to its
        committed offset; the stages are idempotent, so what was already
        folded is folded again without effect, and the missing events arrive.
        """
        if self.app.in_recovery:
            await self._heal_recovery(now)
            return
        if self._busy:
            return
        try:
            mine = {(tp.topic, tp.partition) for tp in self.app.consumer.assignment()}
        except Exception:
            return
        for key, behind in list(self.lag.items()):
            committed = self._committed.get(key)
            stuck = self._stuck_for(
                self._stalled_since, key, committed if key in mine and behind > 0 else None, now
            )
            if stuck is None or committed is None:
                continue
            topic, partition = key
            log.warning(
                "%s:%d has been stuck at committed offset %d with %d events behind for "
                "%.0f s; reading it again from there",
                topic,
                partition,
                committed,
                behind,
                stuck,
            )
            from faust.types import TP

            await self.app.consumer.seek(TP(topic, partition), committed)
            self.reseeks += 1

    async def _heal_recovery(self, now: float) -> None:
        """Re-read a table changelog whose recovery receives nothing.

        The same defect as above hits Faust's table recovery: a changelog
        partition's records fetched before it was resumed are dropped, and
        recovery then waits for them for ever ("No event received for active
        tp ... since recovery start"). A partition still short of its
        highwater whose recovered offset has not moved for ``stall_seconds``
        is sought back to the next offset it needs.
        """
        try:
            tables: Any = self.app.tables
            recovery = tables.recovery
            remaining = dict(recovery.active_remaining())
            offsets = dict(recovery.active_offsets)
        except Exception:
            return
        for tp, left in remaining.items():
            have = offsets.get(tp)
            key = (tp.topic, tp.partition)
            stuck = self._stuck_for(self._recovery_since, key, have if left > 0 else None, now)
            if stuck is None or have is None:
                continue
            log.warning(
                "table recovery of %s:%d has received nothing for %.0f s (%d changes "
                "left); reading it again from offset %d",
                tp.topic,
                tp.partition,
                stuck,
                left,
                have + 1,
            )
            await self.app.consumer.seek(tp, max(0, have + 1))
            self.reseeks += 1

    def _stuck_for(
        self,
        seen: dict[tuple[str, int], tuple[int, float]],
        key: tuple[str, int],
        offset: int | None,
        now: float,
    ) -> float | None:
        """Seconds ``key`` has stayed at ``offset``, once that reaches ``stall_seconds``.

        ``offset`` None means nothing is owed there (forget it). When the
        answer is not None the clock starts again, so a partition that stays
        stuck is sought again only after another ``stall_seconds``.
        """
        if offset is None:
            seen.pop(key, None)
            return None
        last = seen.get(key)
        if last is None or last[0] != offset:
            seen[key] = (offset, now)
            return None
        if now - last[1] < self.cfg.stall_seconds:
            return None
        seen[key] = (offset, now)
        return now - last[1]
