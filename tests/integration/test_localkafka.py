"""Integration tests for the local Kafka broker runner (devkit.localkafka).

Each round trip creates a fresh topic with the kafka-python admin client,
writes keyed records with the kafka-python producer and reads them back with
the aiokafka consumer, checking count, content and per-key order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaProducer

from devkit.localkafka import (
    DEFAULT_KAFKA_VERSION,
    LocalKafka,
    LocalKafkaError,
    _raw_metadata_brokers,
    fetch,
    is_fetched,
)

# Same kafka-python import-time warning as in conftest.py, for lazily loaded modules.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:(read_text|open_text) is deprecated:DeprecationWarning"
)

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_4X_VERSION = os.environ.get("KAFKA_TEST_4X_VERSION", "4.1.1")


def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-localkafka")
    try:
        admin.create_topics(
            {topic: {"num_partitions": partitions, "replication_factor": 1}},
            timeout_ms=30_000,
        )
        admin.wait_for_topics([topic], timeout_ms=30_000)
    finally:
        admin.close()


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in records]
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=60)
    finally:
        producer.close(timeout=10)


async def _consume(
    bootstrap: str, topic: str, expected: int, timeout: float = 60.0
) -> list[tuple[int, bytes, bytes]]:
    """Read ``expected`` records from the start of ``topic`` as (partition, key, value)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[tuple[int, bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batches.items():
                for msg in messages:
                    assert msg.key is not None
                    assert msg.value is not None
                    got.append((tp.partition, msg.key, msg.value))
    finally:
        await consumer.stop()
    return got


def _round_trip(bootstrap: str, count: int, partitions: int = 3) -> None:
    topic = f"localkafka-test-{uuid.uuid4().hex[:12]}"
    _create_topic(bootstrap, topic, partitions)
    records = [(f"key-{i % 17}".encode(), f"value-{i:05d}".encode()) for i in range(count)]
    _produce(bootstrap, topic, records)

    got = asyncio.run(_consume(bootstrap, topic, count))

    assert len(got) == count
    assert sorted((key, value) for _, key, value in got) == sorted(records)
    partitions_of_key: defaultdict[bytes, set[int]] = defaultdict(set)
    values_of_key: defaultdict[bytes, list[bytes]] = defaultdict(list)
    for partition, key, value in got:
        partitions_of_key[key].add(partition)
        values_of_key[key].append(value)
    assert all(len(parts) == 1 for parts in partitions_of_key.values())
    assert all(values == sorted(values) for values in values_of_key.values())


def _port_closed(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, int(port))) != 0


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"


# --------------------------------------------------------------------------- no broker needed


def test_rejects_a_malformed_version(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="not a Kafka release"):
        fetch("3.9.1/../../x", tmp_path)


def test_empty_cache_is_not_fetched(tmp_path: Path) -> None:
    assert not is_fetched(DEFAULT_KAFKA_VERSION, tmp_path)


def test_readiness_probe_gives_up_on_a_silent_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _raw_metadata_brokers(server.getsockname()[1], timeout=0.5)
        assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- real broker


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_round_trip_1000_keyed_messages(kafka_bootstrap: str) -> None:
    _round_trip(kafka_bootstrap, 1000)


@pytest.mark.kafka
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("local_kafka_tools")
def test_stop_ends_the_broker_process() -> None:
    broker = LocalKafka(extra_properties={"num.partitions": "2"})
    with broker:
        pid = broker.pid
        assert pid is not None
        bootstrap = broker.bootstrap_servers
        data_dir = broker.data_dir
        assert "num.partitions=2" in (data_dir / "server.properties").read_text()
        assert broker.is_running()
        broker.stop()
        assert broker.pid is None
        assert not broker.is_running()
        broker.stop()  # idempotent
    assert _gone(pid)
    assert _port_closed(bootstrap)
    assert not data_dir.exists()
    with pytest.raises(LocalKafkaError):
        _ = broker.bootstrap_servers


@pytest.mark.kafka
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("local_kafka_tools")
def test_kill_then_start_is_the_same_broker_on_the_same_ports() -> None:
    with LocalKafka() as broker:
        bootstrap = broker.bootstrap_servers
        pid = broker.pid
        assert pid is not None
        topic = f"localkafka-test-{uuid.uuid4().hex[:12]}"
        _create_topic(bootstrap, topic, 2)
        records = [(f"k{i % 5}".encode(), f"before-{i:03d}".encode()) for i in range(50)]
        _produce(bootstrap, topic, records)
        broker.kill()
        assert _gone(pid)
        assert _port_closed(bootstrap)
        with pytest.raises(LocalKafkaError):
            broker.kill()
        broker.start()
        assert broker.bootstrap_servers == bootstrap
        assert broker.pid != pid
        # the acknowledged records survived the crash, and the broker takes new ones
        more = [(b"k0", b"after")]
        _produce(bootstrap, topic, more)
        got = asyncio.run(_consume(bootstrap, topic, len(records) + 1))
        assert sorted((k, v) for _, k, v in got) == sorted(records + more)


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("local_kafka_tools")
def test_cli_start_and_stop_a_detached_broker(tmp_path: Path) -> None:
    pidfile, env_file = tmp_path / "kafka.pid", tmp_path / "kafka.env"
    cli = [sys.executable, "-m", "devkit.localkafka"]
    started = subprocess.run(
        [*cli, "start", "--pidfile", str(pidfile), "--env-file", str(env_file)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    pid = int(pidfile.read_text())
    try:
        name, _, bootstrap = env_file.read_text().strip().partition("=")
        assert name == "KAFKA_BOOTSTRAP_SERVERS"
        assert not _gone(pid)
        _round_trip(bootstrap, 50, partitions=1)
        stopped = subprocess.run(
            [*cli, "stop", "--pidfile", str(pidfile)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert stopped.returncode == 0, stopped.stderr
        deadline = time.monotonic() + 10
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(pid)
        assert _port_closed(bootstrap)
        assert not pidfile.exists()
    finally:
        if not _gone(pid):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("local_kafka_tools")
def test_kafka_4x_round_trip() -> None:
    with LocalKafka(KAFKA_4X_VERSION) as broker:
        _round_trip(broker.bootstrap_servers, 200)
