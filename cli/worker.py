"""``availability worker``: the streaming worker on Kafka, with its HTTP API and metrics."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cli.args import add_as_of, add_bootstrap, add_store, instant
from cli.broker import bootstrap, security
from cli.errors import EXIT_USAGE, CliError, redact_dsn
from cli.help import Subparsers, command, version
from cli.settings import default_store
from streams.logfilter import TransientTopicFilter
from streams.topics import ensure_topics

if TYPE_CHECKING:
    from streams.kafkaconf import KafkaSecurity
    from streams.workerconfig import WorkerConfig


def register(subparsers: Subparsers) -> None:
    """Add ``worker``."""
    w = command(
        subparsers,
        "worker",
        "Run the streaming worker: probes folded into minute states, statements, claims and "
        "tickets; serves /health, the statements API and /metrics.",
        "availability worker --bootstrap localhost:9092 --store chdb:///var/lib/availability",
    )
    add_bootstrap(w)
    w.add_argument(
        "--app-id", default="availability", help="the consumer group and the prefix of its tables"
    )
    w.add_argument(
        "--web-host",
        default="127.0.0.1",
        help="the address the HTTP API listens on (beyond loopback only with an API token)",
    )
    w.add_argument("--web-port", type=int, default=6066, help="the port of the HTTP API")
    w.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="also answer /health on this port, from a process of its own: it answers at "
        "once under any load, 503 'stalled' when the event loop is held (for liveness "
        "and readiness probes; default: not served)",
    )
    add_store(
        w,
        help="the ClickHouse store to write outputs to: chdb:///path, "
        "http://user:pass@host:8123/db, or none (default: $AVAILABILITY_STORE, the config "
        "file's store, else none)",
    )
    add_as_of(w, "a fixed clock for simulations and tests", "the system clock")
    w.add_argument(
        "--clock-start",
        type=instant,
        default=None,
        help="a clock that starts at this instant and runs at real speed (simulations)",
    )
    w.add_argument(
        "--loglevel",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="the least severe log lines printed",
    )
    w.set_defaults(func=run)


def _worker_clock(fixed: datetime | None, start: datetime | None) -> Callable[[], datetime]:
    """``--as-of`` (fixed), ``--clock-start`` (running from an instant) or the system clock."""
    # lazy: streams.app loads Faust, which only the worker needs
    from streams.app import system_clock

    if fixed is not None and start is not None:
        raise CliError("--as-of and --clock-start exclude each other", EXIT_USAGE)
    if fixed is not None:
        return lambda: fixed
    if start is not None:
        began = time.monotonic()
        return lambda: start + timedelta(seconds=time.monotonic() - began)
    return system_clock


class _StartupCoordinatorFilter(logging.Filter):
    """Logs a retriable coordinator lookup failure as a warning during the first ``grace`` s.

    A fresh cluster answers "coordinator not available" while it creates its
    offsets topic; aiokafka retries and logs each attempt as an ERROR, which
    made a healthy start open with an error. Later, the same failure is a
    real outage and stays an ERROR.
    """

    def __init__(self, grace: float = 60.0) -> None:
        super().__init__()
        self.until = time.monotonic() + grace

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and str(record.msg).startswith("Group Coordinator Request failed")
            and isinstance(record.args, tuple)
            and getattr(record.args[0] if record.args else None, "retriable", False)
            and time.monotonic() < self.until
        ):
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


def _health_line(host: str, port: int | None) -> str:
    return "" if port is None else f", /health also on http://{host}:{port}"


def _early_logging(app_id: str) -> None:
    """Logging until Faust sets up its own, so a refused connection says why."""
    logging.basicConfig(
        level=logging.WARNING, format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka.cluster").addFilter(TransientTopicFilter(f"{app_id}-"))
    # the admin client's own poller timing its tasks on a busy machine, not a fault
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)


def _ensure_worker_topics(servers: str, kafka_security: KafkaSecurity, app_id: str) -> None:
    """The pipeline's topics and the statement stage's own input topic, or a CliError."""
    from kafka.errors import KafkaError

    from streams.router import statement_inputs_topic

    try:
        ensure_topics(servers, **kafka_security.kafka_python())
        # the statement stage's own input topic, shared out by partition
        ensure_topics(
            servers, specs=[statement_inputs_topic(app_id)], **kafka_security.kafka_python()
        )
    except KafkaError as exc:
        raise CliError(
            f"cannot use Kafka at {servers} over {kafka_security.protocol}: "
            f"{exc} (see the connection errors above; check the KAFKA_* settings)"
        ) from None


def _announce(cfg: WorkerConfig) -> None:
    """Said before Faust takes over the output: where to look and what to expect."""
    host = f"[{cfg.web_host}]" if ":" in cfg.web_host else cfg.web_host
    print(
        f"availability worker {version()}: HTTP API on http://{host}:{cfg.web_port} "
        f"(/health, /metrics){_health_line(host, cfg.health_port)}; "
        f"Kafka {cfg.bootstrap} over {cfg.security.protocol}; consumer groups "
        f"{cfg.app_id} (statements, claims, tickets) and {cfg.app_id}-probes (probes); "
        f"store {'none' if cfg.store_dsn is None else redact_dsn(cfg.store_dsn)}",
        file=sys.stderr,
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    """Run the worker until it is stopped."""
    # lazy: Faust, aiokafka and the Kafka client load only for the worker
    from faust.worker import Worker as FaustWorker

    from streams.app import WorkerConfig, api_token_from_env, check_api_exposure, create_app

    # the worker waits for its broker like any long-running service
    servers = bootstrap(args, check=False)
    kafka_security = security()
    try:
        check_api_exposure(args.web_host, api_token_from_env(os.environ))
    except ValueError as exc:  # refused before anything connects anywhere
        raise CliError(str(exc), EXIT_USAGE) from None
    _early_logging(args.app_id)
    _ensure_worker_topics(servers, kafka_security, args.app_id)
    fixed: datetime | None = args.as_of
    cfg = WorkerConfig(
        bootstrap=servers,
        app_id=args.app_id,
        web_host=args.web_host,
        web_port=args.web_port,
        health_port=args.health_port,
        clock=_worker_clock(fixed, args.clock_start),
        store_dsn=None if args.store == "none" else (args.store or default_store()),
        security=kafka_security,
    )
    app = create_app(cfg)
    logging.getLogger("faust").setLevel(logging.WARNING)
    _announce(cfg)
    logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(_StartupCoordinatorFilter())
    worker = FaustWorker(app, loglevel=args.loglevel, quiet=True)
    if not worker.stdout.isatty():
        # the start-up spinner is cursor escapes and backspaces in a log file
        worker.spinner = None
    worker.execute_from_commandline()
    return 0
