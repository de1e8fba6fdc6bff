"""What the worker runs: its tasks, agents and timers, registered with the Faust app.

:class:`WorkerAgents` registers (:meth:`_register`) the probe loop, the
dead-letter tally and the event-loop gauge as tasks; the ``router`` and
``statements`` agents; the ``refresh`` timer (the emit cycle when nothing
arrives) and the ``measure_lag`` timer (the lag, the watchdog and the heals);
the reset of the stages on a rebalance, and the HTTP pages.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from typing import Any

from streams import logfilter, router
from streams.healthserver import REPORT_INTERVAL, HealthServer
from streams.probeloop import cancelling, describe_failure
from streams.webviews import WebViews

#: one logger for every layer of the worker: its log lines are all ``streams.app``'s
log = logging.getLogger("streams.app")


class WorkerAgents(WebViews):
    """The tasks, agents and timers of the worker's Faust app."""

    def _register(self) -> None:
        app = self.app
        routed_in = app.topic(
            *(spec.name for spec in router.ROUTED),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        stage2_in = self.topics[self.statement_inputs.name]
        # the methods are bound: Faust calls a task, a timer or an agent without the worker
        app.task(self._probe_loop)
        app.task(self._count_dead_letters)
        app.task(self._event_loop_lag)
        if self.cfg.health_port is not None:
            app.task(self._health_reports)
        app.agent(routed_in, name="router", concurrency=1)(self._route)
        app.agent(stage2_in, name="statements", concurrency=1)(self._statements_agent)
        app.timer(interval=self.cfg.emit_interval)(self._refresh_tick)
        app.timer(interval=2.0)(self._measure_lag_tick)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_rebalance_complete.connect(self._on_rebalance_complete)
        self._register_pages()

    async def _probe_loop(self) -> None:
        # What start-up allocated (Faust, the models, the tables) lives as long
        # as the worker: out of the collector's sight, a batch's records cost
        # less to collect (measured: bench/bench_stream.py, docs/decisions.md).
        gc.freeze()
        gc.set_threshold(20000, 10, 10)
        # logging is configured by now: the Kafka clients' retries log once per 30 s
        logfilter.install()
        await self.probes.run_forever()

    async def _count_dead_letters(self) -> None:
        await self.dead_letter_tally.run_forever()

    async def _event_loop_lag(self) -> None:
        # The statement stage's thread holds the GIL while it recomputes. The loop
        # gives it up at every socket write and read, thousands a second, and
        # each time waits the switch interval to get it back: 0.1 ms, not the
        # default 5 ms, or the loop spends its time waiting (measured with
        # py-spy at 10,000 contracts: a fifth of the loop thread's samples).
        sys.setswitchinterval(0.0001)
        await self.loop_lag.run()

    async def _health_reports(self) -> None:
        """Serve ``/health`` on its own port and process; hand it a report every 0.2 s."""
        server = HealthServer(
            self.cfg.web_host, self.cfg.health_port or 0, self.cfg.health_stall_seconds
        )
        await asyncio.to_thread(server.start)
        log.info("/health also on http://%s:%d (its own process)", server.host, server.port)
        try:
            while True:
                if not server.alive():
                    log.warning("the /health process has exited; starting it again")
                    await asyncio.to_thread(server.start)
                server.publish(*self.health_report())
                await asyncio.sleep(REPORT_INTERVAL)
        finally:
            server.stop()

    async def _route(self, stream: Any) -> None:
        async for events in stream.take_events(self.cfg.batch_size, self.cfg.batch_wait):
            await self._route_batch(events)

    async def _statements_agent(self, stream: Any) -> None:
        async for events in stream.take_events(self.cfg.batch_size, self.cfg.stage2_batch_wait):
            await self._statements_batch(events)

    async def _refresh_tick(self) -> None:
        """The emit cycle, forced every ``refresh_interval`` or when a ticket falls due.

        A forced cycle that runs recomputes every partition, which marks the
        refresh (``StatementPublishing._emit``); one put off because inputs are
        still arriving is forced again at the next tick.
        """
        if not self._owns_stage2() or self.app.in_recovery or self.app.rebalancing:
            return
        if self._emit_lock.locked():
            return  # a recomputation is running on its thread: the next tick looks again
        loop = asyncio.get_running_loop()
        force = loop.time() - self._last_refresh >= self.cfg.refresh_interval
        due = self._next_due
        if due is not None and self.cfg.clock() >= due:
            force = True  # a ticket's at-risk moment or deadline has passed
        try:
            await self._emit(force=force)
        except asyncio.CancelledError as exc:
            if cancelling():
                raise
            self._emit_failed(exc)
        except Exception as exc:  # a timer that raises stops the whole worker
            self._emit_failed(exc)

    async def _measure_lag_tick(self) -> None:
        """The lag, then the watchdog and the heals that read it."""
        loop = asyncio.get_running_loop()
        try:
            await self._measure_lag()
            self._watchdog(loop.time())
            await self._heal_stalled(loop.time())
        except asyncio.CancelledError:
            if cancelling():
                raise
            log.warning("consumer lag check cancelled inside the Kafka client")
        except Exception as exc:  # a timer that raises stops the whole worker
            log.warning("consumer lag check failed: %s", describe_failure(exc))

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        del sender, args, signal, kwargs
        await self._revoked()

    async def _on_rebalance_complete(
        self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        del sender, args, signal, kwargs
        self._rebalanced()
