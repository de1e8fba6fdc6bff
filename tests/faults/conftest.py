"""Fixtures for the fault tests: a broker of the test's own, and workers on it.

A fault test breaks things for real (it kills the broker, poisons topics), so
each test gets a fresh local broker (:func:`kafka`, :func:`broker`) instead
of the session broker of ``tests/integration/conftest.py``; the same rule
applies: without ``java`` (or ``mvn`` while the jars are not cached) the test
is skipped on a developer machine and fails under ``CI``. :func:`workers`
starts ``availability worker`` processes and stops every one it started when
the test ends. :func:`black_hole` is a store that accepts connections and
never answers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.localkafka import LocalKafka
from tests.integration.conftest import local_kafka_tools
from tests.integration.worker_process import WorkerProcess

__all__ = ["black_hole", "broker", "kafka", "local_kafka_tools", "workers"]


@pytest.fixture
def kafka(local_kafka_tools: None) -> Iterator[LocalKafka]:
    """A local single-node broker for this test alone (stopped when it ends)."""
    del local_kafka_tools
    with LocalKafka() as running:
        yield running


@pytest.fixture
def broker(kafka: LocalKafka) -> str:
    """The bootstrap address (``host:port``) of :func:`kafka`."""
    return kafka.bootstrap_servers


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``WorkerProcess(bootstrap, tmp_path, as_of, **options)``; all stopped at the end."""
    started: list[WorkerProcess] = []

    def start(bootstrap: str, as_of: str, **options: Any) -> WorkerProcess:
        worker = WorkerProcess(bootstrap, tmp_path, as_of, **options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def black_hole() -> Iterator[int]:
    """The port of a real TCP server on 127.0.0.1 that accepts and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read, never answered

    thread = threading.Thread(target=accept, name="black-hole", daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        done.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()
