"""A real, single-node Apache Kafka broker for local runs and integration tests.

The broker jars come from Maven Central through ``deploy/kafka/pom.xml`` (no
Kafka tarball is needed) and are cached under ``$AVAILABILITY_CACHE`` or
``<repo>/.cache``.  The broker runs in KRaft combined mode (one process is both
broker and controller) on free ports of 127.0.0.1.

Library use::

    with LocalKafka() as kafka:
        produce_to(kafka.bootstrap_servers)

Command line::

    python -m devkit.localkafka fetch [--version V]
    python -m devkit.localkafka run [--version V] [--data-dir D]
    python -m devkit.localkafka start --pidfile F --env-file E [--version V] [--data-dir D]
    python -m devkit.localkafka stop --pidfile F

Environment: ``KAFKA_VERSION`` selects the broker release (default
:data:`DEFAULT_KAFKA_VERSION`); ``AVAILABILITY_CACHE`` moves the jar cache.

Requirements: ``java`` (17+) on ``PATH`` to run a broker, and ``mvn`` on
``PATH`` for the first fetch of a version.  POSIX only (process groups).
"""

from __future__ import annotations

from devkit.localkafka.base import (
    DEFAULT_KAFKA_VERSION,
    LocalKafkaError,
    ToolMissingError,
    default_cache_dir,
    default_version,
    free_port,
    missing_tools,
)
from devkit.localkafka.broker import LocalKafka
from devkit.localkafka.cli import main
from devkit.localkafka.config import SaslSslListener
from devkit.localkafka.config import _new_cluster_id as _new_cluster_id  # for the tests
from devkit.localkafka.jars import fetch, is_fetched
from devkit.localkafka.processes import stop_pid
from devkit.localkafka.wire import _raw_metadata_brokers as _raw_metadata_brokers  # for the tests

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "LocalKafka",
    "LocalKafkaError",
    "SaslSslListener",
    "ToolMissingError",
    "default_cache_dir",
    "default_version",
    "fetch",
    "free_port",
    "is_fetched",
    "main",
    "missing_tools",
    "stop_pid",
]
