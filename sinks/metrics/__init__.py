"""Prometheus metrics: availability, error budgets, credits and pipeline health.

The metrics are derived from the pipeline's state *at scrape time* by a
custom collector (:class:`AvailabilityCollector`), never set by the code
that computes the statements: the state is the truth and the collector is a
view of it, so a scrape can never see a half-updated gauge, and nothing but
the state needs to be kept in step.

Who calls what:

- The streaming worker hands a :class:`StateSnapshot` of its outputs and
  counters to one ``AvailabilityCollector(state, clock)`` at each scrape of
  its ``/metrics`` and serves :meth:`AvailabilityCollector.exposition`,
  made on a thread (``streams/metricspage.py``). Any other process may
  register a collector in a ``prometheus_client`` registry instead: its
  ``collect`` gives the library's families, and the same text.
- The offline replay and the tests use :class:`ReplayState`, built from a
  :class:`~fold.replay.ReplayResult` (any :class:`ReplayLike`);
  :func:`render` turns any state into the text exposition format.

Every metric name the pipeline exports is a constant of
:mod:`sinks.metrics.names`; the set is closed (:data:`METRIC_NAMES`), and
deploy/prometheus/rules.yml, the Grafana dashboards and docs/alerting.md use
only these names.

Units. Prometheus prefers base units (seconds, ratios). The SLA's unit is
the whole minute: budgets are ``floor(M * (1 - target))`` minutes, tiers
move one minute at a time and the statements count minutes. Exporting those
counts as seconds would multiply every exact integer by 60 for no reader's
benefit and invite comparisons such as "budget < 2640 s" that nobody can
check against a statement, so minute counts carry a ``_minutes`` (gauges)
or ``_minutes_total`` (counters) suffix. Ratios are 0-1, timestamps are
Unix seconds, money is in the currency named by the ``currency`` label.

Cardinality. Labels are bounded: ``contract_id``, ``service``, ``state``
(4 values), ``cause`` (5), ``credit_percent`` (the contract's tiers),
``status`` (3), ``month`` (only ever the *current* month of the series:
the month-to-date series of a month disappear when the next month starts),
event ``type``, dead-letter ``reason``, sink, table, Kafka topic and
partition, ``ticket_severity`` (3), the worker's degraded ``reason``
(:data:`DEGRADED_REASONS`, 3). No event, incident, claim, ticket or
client id is ever a label.

Support. When the state also has ``support_outputs()``
(:class:`SupportState`), the collector exports tickets open and at risk
(gauges read at scrape time), breaches (a counter, each ticket once) and
the first-response time in business seconds (a histogram, each responded
ticket once), all by ``ticket_severity``. Business seconds for every
severity, High included, whose target runs on the wall clock: the
histogram compares response effort across severities on one clock, the
verdicts say whether each target was met.

The modules, by role (every public name is re-exported here):

- :mod:`~sinks.metrics.names`: the metric names, the values of the bounded
  labels, the response buckets and the series a scrape holds;
- :mod:`~sinks.metrics.families`: each name's help text, labels and type;
- :mod:`~sinks.metrics.state`: what the collector reads
  (:class:`PipelineStats`, :class:`PipelineState`, :class:`ReplayState`,
  :class:`StateSnapshot`);
- :mod:`~sinks.metrics.counters`: the counters kept monotonic across
  scrapes (:class:`MonotonicTotals`, :class:`TicketTotals`);
- :mod:`~sinks.metrics.figures`: the typed month outputs a scrape reads, and a
  month's minute figures from one;
- :mod:`~sinks.metrics.collector`: :class:`AvailabilityCollector` and
  :func:`render`;
- :mod:`~sinks.metrics.exposition`: a scrape's families as plain rows, and
  their text, written as the client library writes it but without a
  sample object per series (what the worker serves).
"""

from __future__ import annotations

from sinks.metrics import names
from sinks.metrics.collector import AvailabilityCollector, WallClock, render
from sinks.metrics.counters import MonotonicTotals, SupportFigures, TicketTotals
from sinks.metrics.names import *  # noqa: F403  (every metric name, listed in names.__all__)
from sinks.metrics.state import (
    FoldCounts,
    PipelineState,
    PipelineStats,
    ReplayLike,
    ReplayState,
    StateSnapshot,
    SupportState,
)

__all__ = [
    "AvailabilityCollector",
    "FoldCounts",
    "MonotonicTotals",
    "PipelineState",
    "PipelineStats",
    "ReplayLike",
    "ReplayState",
    "StateSnapshot",
    "SupportFigures",
    "SupportState",
    "TicketTotals",
    "WallClock",
    "render",
]
__all__ += names.__all__
