"""How one worker runs: :class:`WorkerConfig`, its clock and its API token.

Loads neither Faust nor Kafka: the command line reads these before it starts
a worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sinks.secrets import read_secret
from sla.book import Settings
from streams.kafkaconf import KafkaSecurity

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class WorkerConfig:
    """How one worker runs."""

    bootstrap: str
    app_id: str = "availability"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    web_enabled: bool = True
    #: ``/health`` also on this port, answered by a process of its own from the
    #: loop's last report (:mod:`streams.healthserver`); None: not served
    health_port: int | None = None
    #: that ``/health`` answers 503 ``stalled`` once the loop has not reported for this long
    health_stall_seconds: float = 5.0
    #: a probe batch costs about the same to fold into state whatever its size
    #: (every touched service-month's minute states are recomputed and written
    #: once per batch), so batches are large; ``batch_wait`` bounds the latency
    batch_size: int = 10000
    batch_wait: float = 0.5
    #: the statement stage's inputs (minute states, contracts, incidents, claims,
    #: tickets) are folded within this long of arriving: a failing minute's
    #: states reach the statements without waiting for a batch to fill
    stage2_batch_wait: float = 0.1
    #: how often the statement stage looks for work; it recomputes only when an
    #: input changed it (or at ``refresh_interval``), so looking often is cheap
    emit_interval: float = 0.25
    #: the probe loop publishes changed minute states this often
    states_interval: float = 0.25
    #: a recomputation waits until no input was folded for this long (a new
    #: minute's states come in a few messages): at most ``inputs_max_wait``
    inputs_quiet: float = 0.3
    inputs_max_wait: float = 1.0
    refresh_interval: float = 30.0
    settle_seconds: float = 5.0
    #: a lag measurement that takes longer fails (the broker does not answer)
    lag_timeout: float = 10.0
    #: the last lag measurement counts this long; after that the lag is unknown
    lag_max_age: float = 15.0
    #: an input partition with lag whose committed offset has not moved this
    #: long, while no batch is in hand, is read again from that offset
    stall_seconds: float = 30.0
    settings: Settings = field(default_factory=Settings)
    clock: Clock = system_clock
    #: hidden from ``repr``: a server DSN can hold a password
    store_dsn: str | None = field(default=None, repr=False)
    data_dir: str | None = None
    #: bearer token the HTTP API asks for on every page but /health and /metrics
    #: (``AVAILABILITY_API_TOKEN_FILE`` or ``AVAILABILITY_API_TOKEN``); required
    #: when the API listens beyond loopback
    api_token: str | None = field(
        default_factory=lambda: api_token_from_env(os.environ), repr=False
    )
    #: TLS / SASL settings of every Kafka client (``KAFKA_*`` environment variables)
    security: KafkaSecurity = field(default_factory=KafkaSecurity.from_env)


def api_token_from_env(env: Mapping[str, str]) -> str | None:
    """The HTTP API token (``AVAILABILITY_API_TOKEN_FILE`` or ``AVAILABILITY_API_TOKEN``)."""
    return read_secret("AVAILABILITY_API_TOKEN", env)
