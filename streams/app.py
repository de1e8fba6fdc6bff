"""The Faust application factory: agents, tables, timers and web views.

No module-level app: :func:`create_app` builds one from a
:class:`WorkerConfig`. Two stages, each one at a time and at least once;
idempotency comes from the core (sets, not counters):

* the probe loop (:mod:`streams.probeloop`, a task of the app with a consumer
  group of its own, ``<app-id>-probes``) reads ``availability.probes`` in
  large batches (partitioned by service) and publishes per service-month
  minute states; Faust's per-message stream delivery was its bottleneck;
* the ``router`` agent reads minute states, incidents, contracts, claims and
  tickets (one partition each) and forwards them to the statement
  partitions (:mod:`streams.router`: by contract, minute states and
  incidents to all);
* the ``statements`` agent folds each statement partition it owns in a stage
  of its own and emits statements, records, claim decisions and support
  verdicts when they change; a timer re-evaluates them so months become
  final and open incidents grow even when nothing arrives.

Everything a batch produces is sent before its events are acknowledged, and
Faust flushes the producer (table changelogs included) before it commits
offsets, so a crash can only lead to reprocessing, which changes nothing.

Faults. No exception leaves the statements agent (Faust would acknowledge
its batch: ``stream_ack_exceptions``): a batch that cannot be delivered is
tried again with a growing pause until it is, and a tombstone is
dead-lettered. The worker is *degraded* (``/health`` answers 503, the gauge
``availability_worker_degraded`` is 1 for the reason) while a stage is not
running or the input lag cannot be measured, and *caught up* only when it is
not degraded and a fresh measurement finds every input partition read to its
end. Final statements and claim decisions are published only while caught
up, so none is ever computed from a partial backlog (SPEC section 7).

Layout. :class:`Worker` is thin wiring over a stack of layers, each in a
module named for what it holds (every layer may use the ones below it):

* :mod:`streams.workerconfig`: :class:`WorkerConfig`, how one worker runs;
* :mod:`streams.sinkwrites`: writing the audit trail and the outputs to the store;
* :mod:`streams.wiring`: the Faust app, its topics and tables, the stages,
  the partitions this worker owns (and :mod:`streams.tablestore`, the
  stages' state in the tables);
* :mod:`streams.lag`: the consumer lag, measured on a thread;
* :mod:`streams.health`: degraded or caught up, the watchdog and the heals;
* :mod:`streams.publishing`: the emit cycle, recomputing and publishing;
* :mod:`streams.batches`: the router's and the statements agent's batches;
* :mod:`streams.readouts`: the latest outputs and the stats the metrics read;
* :mod:`streams.webviews`: the HTTP pages (the token: :mod:`streams.apiauth`;
  ``/health`` from a process of its own: :mod:`streams.healthserver`);
* :mod:`streams.agents`: the tasks, agents and timers registered with Faust.
"""

from __future__ import annotations

import faust

from streams.agents import WorkerAgents
from streams.apiauth import check_api_exposure
from streams.workerconfig import WorkerConfig, api_token_from_env, system_clock

__all__ = [
    "Worker",
    "WorkerConfig",
    "api_token_from_env",
    "check_api_exposure",
    "create_app",
    "system_clock",
]


class Worker(WorkerAgents):
    """One worker's app, stages and outputs (the web views read the stages' ``latest``)."""

    def __init__(self, cfg: WorkerConfig) -> None:
        super().__init__(cfg)
        # an instance attribute shadows Faust's no-op hook: it runs as the web server starts
        self.app.on_webserver_init = self._on_webserver_init  # type: ignore[method-assign]
        self._register()


def create_app(cfg: WorkerConfig) -> faust.App:
    """A configured Faust app, ready for ``faust.Worker``."""
    return Worker(cfg).app
