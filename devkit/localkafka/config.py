"""The broker's ``server.properties``, its logging options and the optional SASL_SSL listener."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devkit.localkafka.base import (
    LOG4J1_CONFIG,
    LOG4J2_CONFIG,
    LocalKafkaError,
)


def _new_cluster_id() -> str:
    """Return a random 16-byte UUID in Kafka's URL-safe base64 form (22 chars).

    Like Kafka's own ``Uuid.randomUuid``, an id that starts with ``-`` is drawn
    again: the storage tool's argument parser would read it as an option
    (about one id in 64 did, and formatting failed with "expected one argument").
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _broker_properties(
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    major: int,
    extra: Mapping[str, str],
) -> dict[str, str]:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "log.retention.hours": "168",
    }
    if major >= 4:
        props["share.coordinator.state.topic.replication.factor"] = "1"
        props["share.coordinator.state.topic.min.isr"] = "1"
    props.update(extra)
    for key, value in props.items():
        if "\n" in key or "\n" in value or "\r" in key or "\r" in value:
            raise LocalKafkaError(f"property {key!r} contains a line break")
    return props


def _write_properties(path: Path, props: Mapping[str, str]) -> None:
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\")

    lines = ["# Written by devkit.localkafka; regenerated on every start."]
    lines += [f"{esc(k)}={esc(v)}" for k, v in props.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _existing_cluster_id(props: Mapping[str, str]) -> str | None:
    """Return the cluster id recorded in an already formatted log directory, if any."""
    log_dirs = props.get("log.dirs") or props.get("log.dir") or ""
    for log_dir in filter(None, (d.strip() for d in log_dirs.split(","))):
        try:
            text = (Path(log_dir) / "meta.properties").read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "cluster.id" and value.strip():
                return value.strip()
    return None


def _logging_opts(major: int) -> list[str]:
    if major >= 4:
        return [f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}"]
    return [f"-Dlog4j.configuration={LOG4J1_CONFIG.as_uri()}"]


@dataclass(frozen=True)
class SaslSslListener:
    """A second listener, SASL (SCRAM) over TLS, for tests of secured clients.

    ``keystore_pem`` holds the broker's PKCS#8 private key (unencrypted) and
    its certificate chain, in that order; the certificate must name
    127.0.0.1 (an IP subject alternative name). ``scram_users`` are created
    when the storage is formatted, so they exist before the broker starts.
    The PLAINTEXT listener stays for the readiness check and inter-broker
    traffic.
    """

    keystore_pem: Path
    scram_users: Mapping[str, str]
    mechanism: str = "SCRAM-SHA-512"

    def properties(self, port: int, controller_port: int, sasl_port: int) -> dict[str, str]:
        mech = self.mechanism.lower()
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},"
            f"SASL_SSL://127.0.0.1:{sasl_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
            "SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": self.mechanism,
            f"listener.name.sasl_ssl.{mech}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore_pem),
        }
