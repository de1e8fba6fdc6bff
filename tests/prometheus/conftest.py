"""Fixtures for the metrics, alerting-rule and dashboard tests.

- ``small_replay``: a hand-made March 2026 (two contracts, one over its
  budget by one minute, one at 43 % of it, an AWS exclusion, a bad line,
  five support tickets: one High at risk, one open, one met, two breached),
  replayed in well under a second; ``NOW`` is the instant it is seen at.
- ``prometheus``: a real Prometheus server (1 s scrape and evaluation)
  scraping a loopback HTTP endpoint that serves an
  :class:`~sinks.metrics.AvailabilityCollector` over ``small_replay``, with
  deploy/prometheus/rules.yml loaded (started by
  :func:`tests.helpers.run_prometheus`). Session-scoped, shut down at the end.
- ``promtool`` / ``prometheus_bin``: the binaries; a test needing one is
  skipped when it is missing, but fails when ``CI`` is set, so CI can never
  pass by skipping.
- ``sim_replay`` and ``dashboard_data``: a simulated month in a chDB store
  for the ClickHouse dashboard queries (see ``dashboard_data``).
"""

from __future__ import annotations

import itertools
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import clickhouse_connect
import pytest
from prometheus_client import CollectorRegistry, make_wsgi_app

from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import ReplayResult, iter_lines, replay_lines
from sinks.lineage import RawEvent
from sinks.metrics import AvailabilityCollector, PipelineStats, ReplayState
from sinks.store import ClickHouseStore, connect
from sla.model import JSON
from sla.timeutil import parse_instant
from tests.helpers import Prometheus as Prometheus  # re-exported for the test modules
from tests.helpers import contract, incident, need_tool, probes_every_minute, run, run_prometheus

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"

#: When the small month is seen: 14 days (20,160 minutes) into March 2026.
NOW = parse_instant("2026-03-15T00:00:00Z")


def ticket(kind: str, ticket_id: str, at: str, **fields: Any) -> JSON:
    """A support ticket event; ``at`` fills the event's own instant field."""
    instant = {
        "ticket_opened": "opened_at",
        "ticket_responded": "responded_at",
        "ticket_severity_changed": "changed_at",
    }[kind]
    if kind == "ticket_opened":
        fields.setdefault("channel", "email")
    return {
        "type": kind,
        "event_id": f"{kind}-{ticket_id}",
        "ticket_id": ticket_id,
        instant: at,
        **fields,
    }


def small_tickets() -> list[JSON]:
    """Five tickets seen at ``NOW`` (Sunday 15 March 2026, 00:00 UTC = London).

    - T-1 high, opened Saturday 22:15, unanswered: at risk (23:45), due 00:15.
    - T-2 medium, opened Friday 17:00, unanswered: open (at risk Monday 10:45).
    - T-3 low, answered after 90 business minutes: met.
    - T-4 high, answered after 3 hours (business hours): breached, 180 minutes.
    - T-5 medium, opened Wednesday 09:00, unanswered: breached at 12:00.
    """
    return [
        ticket(
            "ticket_opened", "T-1", "2026-03-14T22:15:00Z", client_id="client-1", severity="high"
        ),
        ticket(
            "ticket_opened", "T-2", "2026-03-13T17:00:00Z", client_id="client-1", severity="medium"
        ),
        ticket(
            "ticket_opened", "T-3", "2026-03-10T09:00:00Z", client_id="client-1", severity="low"
        ),
        ticket("ticket_responded", "T-3", "2026-03-10T10:30:00Z"),
        ticket(
            "ticket_opened", "T-4", "2026-03-12T10:00:00Z", client_id="client-2", severity="high"
        ),
        ticket("ticket_responded", "T-4", "2026-03-12T13:00:00Z"),
        ticket(
            "ticket_opened", "T-5", "2026-03-11T09:00:00Z", client_id="client-2", severity="medium"
        ),
    ]


def small_events() -> list[JSON | bytes]:
    """PO-1 (api): 45 counted minutes, 10 excluded (AWS). PO-2 (web): 25 counted.

    And the support tickets of :func:`small_tickets`.
    """
    events: list[JSON | bytes] = [
        contract("PO-1", {"api": "1000.00"}, effective_from="2026-03-01T00:00:00Z"),
        contract(
            "PO-2",
            {"web": "500.00"},
            currency="USD",
            client_id="client-2",
            effective_from="2026-03-01T00:00:00Z",
        ),
    ]
    events += probes_every_minute("api", "2026-03-02T09:00:00Z", 60)
    events += probes_every_minute("api", "2026-03-02T10:00:00Z", 45, ok=False)
    events += probes_every_minute("api", "2026-03-02T10:45:00Z", 15)
    events += probes_every_minute("api", "2026-03-02T12:00:00Z", 10, ok=False)
    events.append(
        incident("INC-aws", ["api"], "2026-03-02T12:00:00Z", "2026-03-02T12:10:00Z", cause="aws")
    )
    events += probes_every_minute("web", "2026-03-03T08:00:00Z", 25, ok=False)
    events.append(b'{"type":"probe","event_id":"broken"')
    events += small_tickets()
    return events


@pytest.fixture(scope="session")
def promtool() -> str:
    return need_tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return need_tool("prometheus")


@pytest.fixture(scope="session")
def small_replay() -> ReplayResult:
    return run(small_events(), "2026-03-15T00:00:00Z")


# -- a live Prometheus ----------------------------------------------------------


class LiveState:
    """The small replay plus pipeline figures a running worker would have.

    ``last_event_unixtime`` is the wall clock of each scrape, so the pipeline
    looks alive to Prometheus (whose clock is the real one), and statement
    cycles go on being counted, so their delay has a rate.
    """

    def __init__(self, result: ReplayResult) -> None:
        self.replay = ReplayState(result)
        self.base = replace(
            self.replay.pipeline(),
            late_events=2,
            sink_errors={"clickhouse": 1},
            sink_rows_written={"contract_months": 2, "service_months": 2},
            consumer_lag={("availability.probes", 0): 12, ("availability.probes", 1): 3},
        )
        self.started = time.time()

    def statements(self) -> list[Mapping[str, Any]]:
        return self.replay.statements()

    def service_months(self) -> list[Mapping[str, Any]]:
        return self.replay.service_months()

    def support_outputs(self) -> list[Mapping[str, Any]]:
        return self.replay.support_outputs()

    def pipeline(self) -> PipelineStats:
        # statement cycles keep coming, one a second: a quarter published within
        # 1 s, the rest within 5 s
        cycles = int(time.time() - self.started) + 1
        return replace(
            self.base,
            last_event_unixtime=time.time(),
            statement_delay_buckets=((1.0, cycles), (5.0, 4 * cycles), (float("inf"), 4 * cycles)),
            statement_delay_sum=8.0 * cycles,
        )


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every second would flood the test output."""


def _ready(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
        return bool(resp.status == 200)


@pytest.fixture(scope="session")
def exporter(small_replay: ReplayResult) -> Iterator[str]:
    """``host:port`` of a loopback endpoint serving the collector over the small month."""
    registry = CollectorRegistry()
    registry.register(
        AvailabilityCollector(LiveState(small_replay), lambda: NOW, count_history=True)
    )
    server: WSGIServer = make_server(
        "127.0.0.1", 0, make_wsgi_app(registry), handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def prometheus(
    prometheus_bin: str, exporter: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """A Prometheus server scraping ``exporter`` every second with rules.yml loaded."""
    work = tmp_path_factory.mktemp("prometheus")
    with run_prometheus(prometheus_bin, PROMETHEUS_DIR / "rules.yml", exporter, work) as server:
        server.wait_for("prometheus to be ready", lambda: _ready(server.url))
        # Two scrapes and an evaluation: rate() and the recording rules have data.
        server.wait_for(
            "recording rules over two scrapes",
            lambda: bool(server.query("availability:events:rate5m")),
        )
        yield server


# -- ClickHouse with a simulated month ---------------------------------------------

#: One region keeps the replay to seconds; the month still has outages,
#: exclusions, a revision, credits, claims and malformed lines.
SCENARIO = Scenario(services=("api", "web"), regions=("eu-west-1",))
_databases = itertools.count()


@pytest.fixture(scope="session")
def sim_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "month.jsonl"
    write_jsonl(SCENARIO, str(path))
    return path


@pytest.fixture(scope="session")
def sim_replay(sim_file: Path) -> ReplayResult:
    with sim_file.open("rb") as fh:
        return replay_lines(iter_lines(fh), default_as_of(SCENARIO), source_name="month.jsonl")


def _open_engine(path: Path, database: str) -> tuple[ClickHouseStore, str]:
    """A store on the process's chDB engine, wherever it lives, and that engine's path.

    chDB allows one engine path per process. When another fixture (the sink
    tests' session engine) already holds one, join it: a fresh database
    keeps the data apart. The error names the path in use.
    """
    try:
        return connect(f"chdb://{path}", database=database), str(path.resolve())
    except Exception as exc:
        marker = "already initialized with path '"
        text = str(exc)
        if marker not in text:
            raise
        held = text.split(marker, 1)[1].split("'", 1)[0]
        return connect(f"chdb://{held}", database=database), held


def raw_events_of(path: Path, limit: int, as_of: datetime) -> list[RawEvent]:
    """The first ``limit`` lines of ``path`` as received events, one a second."""
    out: list[RawEvent] = []
    with path.open("rb") as fh:
        for no, raw in iter_lines(fh):
            if len(out) >= limit:
                break
            received = as_of - timedelta(days=9, seconds=limit - no)
            out.append(RawEvent(raw, received, {"file": "month.jsonl", "line": no}))
    return out


@dataclass
class DashboardData:
    """The simulated month in ClickHouse, and a client whose default database holds it.

    Dashboards name tables without a database (the data source's
    ``defaultDatabase`` supplies it), so their queries run on ``client``.
    """

    store: ClickHouseStore
    client: Any


@pytest.fixture(scope="module")
def dashboard_data(
    sim_replay: ReplayResult, sim_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DashboardData]:
    """A migrated store holding the simulated month (outputs, dead letters, raw events).

    Module-scoped: the engine is closed when the module ends, so the sink
    tests can open their own path later in the same process.
    """
    path = tmp_path_factory.mktemp("chdb-dashboards") / "engine"
    store, engine = _open_engine(path, f"dash{next(_databases)}")
    store.migrate()
    store.write_outputs(sim_replay.outputs)
    store.write_dead_letters(sim_replay.dead_letters)
    store.write_raw_events(raw_events_of(sim_file, 3000, sim_replay.as_of))
    client = clickhouse_connect.get_client(interface="chdb", path=engine, database=store.db)
    try:
        yield DashboardData(store, client)
    finally:
        client.close()
        store.client.command(f"DROP DATABASE IF EXISTS {store.db}")
        store.close()
