"""The marker guard of tests/conftest.py, run by a pytest of its own on a generated file.

Nothing real is opened: the ClickHouse tests ask ``clickhouse_connect`` for a
client of an interface it does not have (the guard sees the attempt, the
driver refuses it), and the "broker" is a listening socket of this test.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider"]

INI = """\
[pytest]
markers =
    kafka: reaches a broker
    clickhouse: opens ClickHouse
filterwarnings =
    error
    ignore:(read_text|open_text) is deprecated:DeprecationWarning
"""

GENERATED = """\
import gc
import os
import socket
import sys

import clickhouse_connect
import pytest

BROKER = ("127.0.0.1", int(os.environ["GUARD_BROKER_PORT"]))
ELSEWHERE = ("127.0.0.1", int(os.environ["GUARD_OTHER_PORT"]))


def ask_for_a_client():
    with pytest.raises(Exception):  # the driver's refusal, never the guard's failure
        clickhouse_connect.get_client(interface="no-such-interface")


@pytest.fixture(scope="session")
def engine():
    ask_for_a_client()
    return "engine"


def test_unmarked_clickhouse():
    ask_for_a_client()


@pytest.mark.clickhouse
def test_marked_clickhouse():
    ask_for_a_client()


@pytest.mark.clickhouse
def test_marked_sets_up_the_engine(engine):
    assert engine


def test_unmarked_reuses_the_engine(engine):
    assert engine


def test_unmarked_connect():
    with socket.create_connection(BROKER, timeout=5):
        pass


def test_unmarked_connect_ex():
    with socket.socket() as sock:
        sock.connect_ex(BROKER)


def test_unmarked_connect_swallowed():
    try:
        socket.create_connection(BROKER, timeout=5).close()
    except BaseException:
        pass


@pytest.mark.kafka
def test_marked_connect():
    with socket.create_connection(BROKER, timeout=5):
        pass


def test_unmarked_connect_elsewhere():
    with socket.create_connection(ELSEWHERE, timeout=5):
        pass


def test_unmarked_create_connection():
    socket.create_connection(BROKER, timeout=5).close()


def test_unmarked_collects_what_earlier_tests_left():
    # what pytest keeps of the last failure (the refused socket among it) is let go
    sys.last_type = sys.last_value = sys.last_traceback = None
    gc.collect()
"""


def _run_generated(
    where: Path, source: str, **environ: str
) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    """Run ``source`` as a test file under the guard: each test's outcome, and the run."""
    (where / "pytest.ini").write_text(INI, encoding="utf-8")
    (where / "test_generated.py").write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env.update(PYTHONPATH=str(ROOT), **environ)
    proc = subprocess.run(
        [*PYTEST, "-q", "-rA", "test_generated.py"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = re.findall(r"^(PASSED|FAILED|ERROR) test_generated\.py::(\w+)", proc.stdout, re.M)
    return {name: outcome for outcome, name in summary}, proc


@pytest.fixture
def listeners() -> Iterator[tuple[int, int]]:
    """Two listening sockets on 127.0.0.1: the "broker" and another server."""
    with (
        socket.create_server(("127.0.0.1", 0)) as broker,
        socket.create_server(("127.0.0.1", 0)) as other,
    ):
        yield broker.getsockname()[1], other.getsockname()[1]


def test_unmarked_tests_that_open_clickhouse_or_reach_the_broker_fail(
    tmp_path: Path, listeners: tuple[int, int]
) -> None:
    broker, other = listeners
    outcomes, proc = _run_generated(
        tmp_path,
        GENERATED,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{broker}",
        GUARD_BROKER_PORT=str(broker),
        GUARD_OTHER_PORT=str(other),
    )
    assert outcomes == {
        "test_unmarked_clickhouse": "FAILED",
        "test_marked_clickhouse": "PASSED",
        "test_marked_sets_up_the_engine": "PASSED",
        "test_unmarked_reuses_the_engine": "FAILED",
        "test_unmarked_connect": "FAILED",
        "test_unmarked_connect_ex": "FAILED",
        "test_unmarked_connect_swallowed": "FAILED",
        "test_marked_connect": "PASSED",
        "test_unmarked_connect_elsewhere": "PASSED",
        "test_unmarked_create_connection": "FAILED",
        "test_unmarked_collects_what_earlier_tests_left": "PASSED",
    }, proc.stdout + proc.stderr
    assert (
        "test_unmarked_clickhouse opens a ClickHouse client (clickhouse_connect.get_client) "
        "but is not marked `clickhouse`" in proc.stdout
    )
    assert "uses the fixture `engine`, which opened a ClickHouse client," in proc.stdout
    assert f"connects to the Kafka broker at 127.0.0.1:{broker} but is not marked `kafka`" in (
        proc.stdout
    )


STOPPED = """\
import socket

import pytest

from devkit.localkafka import LocalKafka

PORTS = {}


@pytest.mark.kafka
def test_marked_starts_kills_and_stops_brokers():
    stopped = LocalKafka(heap="256m")
    with stopped:
        PORTS["stopped"] = int(stopped.bootstrap_servers.rpartition(":")[2])
    killed = LocalKafka(heap="256m")
    killed.start()
    PORTS["killed"] = int(killed.bootstrap_servers.rpartition(":")[2])
    killed.kill()


def test_unmarked_connect_to_a_new_listener_on_a_stopped_brokers_port():
    with socket.create_server(("127.0.0.1", PORTS["stopped"])) as server:
        with socket.create_connection(server.getsockname(), timeout=5):
            pass


def test_unmarked_connect_to_a_killed_brokers_port():
    with socket.create_server(("127.0.0.1", PORTS["killed"])) as server:
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
"""


@pytest.mark.kafka
def test_a_stopped_brokers_port_is_free_for_others_a_killed_ones_is_not(tmp_path: Path) -> None:
    """The real fault: the kernel hands a stopped broker's port to a later listener.

    A health server on port 0 got the port of a broker stopped earlier in the
    run, and its test failed as "connects to the Kafka broker". A killed
    broker keeps its ports for its restart, so they still count as its.
    """
    outcomes, proc = _run_generated(tmp_path, STOPPED)
    assert outcomes == {
        "test_marked_starts_kills_and_stops_brokers": "PASSED",
        "test_unmarked_connect_to_a_new_listener_on_a_stopped_brokers_port": "PASSED",
        "test_unmarked_connect_to_a_killed_brokers_port": "FAILED",
    }, proc.stdout + proc.stderr
    assert "connects to the Kafka broker at 127.0.0.1:" in proc.stdout
