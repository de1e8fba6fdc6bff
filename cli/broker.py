"""The Kafka brokers of a command: ``--bootstrap``, checked at once, and the client settings."""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from cli.errors import EXIT_USAGE, CliError
from streams.kafkaconf import KafkaSecurity, KafkaSettingsError


def bootstrap(args: argparse.Namespace, *, check: bool = True) -> str:
    """The bootstrap servers of ``args`` or the environment.

    With ``check``, at least one of them must accept a TCP connection within
    a few seconds: a one-shot tool then fails at once with the reason instead
    of after the Kafka client's own minute-long bootstrap timeout.
    """
    value = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not value:
        raise CliError("no Kafka: pass --bootstrap or set KAFKA_BOOTSTRAP_SERVERS", EXIT_USAGE)
    if check:
        reach_kafka(str(value))
    return str(value)


def reach_kafka(bootstrap: str, timeout: float = 5.0) -> None:
    """Raise :class:`CliError` unless one of ``bootstrap``'s servers accepts a connection."""
    reasons: list[str] = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, sep, port = server.rpartition(":")
        if not sep or not port.isdigit():
            raise CliError(
                f"bad Kafka bootstrap server {server!r}: expected host:port, e.g. localhost:9092",
                EXIT_USAGE,
            )
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return
        except OSError as exc:
            reasons.append(f"{server}: {exc.strerror or exc}")
    raise CliError(
        f"cannot reach Kafka at {bootstrap} ({'; '.join(reasons) or 'no server given'}): "
        "is the broker running? check --bootstrap or KAFKA_BOOTSTRAP_SERVERS"
    )


def security() -> KafkaSecurity:
    """The ``KAFKA_*`` security settings; a bad one is a usage error."""
    try:
        return KafkaSecurity.from_env()
    except KafkaSettingsError as exc:
        raise CliError(f"Kafka settings: {exc}", EXIT_USAGE) from None


def kafka_client() -> dict[str, Any]:
    """Security settings of every Kafka client, from the ``KAFKA_*`` environment."""
    try:
        return KafkaSecurity.from_env().kafka_python()
    except KafkaSettingsError as exc:
        raise CliError(f"Kafka settings: {exc}", EXIT_USAGE) from None
