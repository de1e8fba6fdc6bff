"""Kafka SASL/SCRAM over TLS, the HTTP API token, and secrets that never reach a log.

The local broker gets a second listener, SASL_SSL with SCRAM-SHA-512, whose
certificate is made here by ``openssl`` (a throw-away CA and a server
certificate for 127.0.0.1). The worker is configured only through the
``KAFKA_*`` and ``AVAILABILITY_API_TOKEN_FILE`` environment variables, as a
deployment would configure it.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devkit.localkafka import LocalKafka, SaslSslListener
from streams import topics
from streams.kafkaconf import KafkaSecurity
from tests.integration.worker_process import WorkerProcess
from tests.prometheus.conftest import small_events
from tools.produce import consume_outputs, latest_outputs

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.usefixtures("local_kafka_tools")]

USER = "availability-worker"
PASSWORD = "scram-pw-7f3a9c"  # a throw-away test credential
TOKEN = "api-token-41d2e8"  # a throw-away test credential
AS_OF = "2026-03-15T00:00:00Z"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(work: Path) -> tuple[Path, Path]:
    """A CA and a server certificate for 127.0.0.1; returns (keystore PEM, CA PEM)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificates")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=availability test CA",
        cwd=work,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=work,
    )  # fmt: skip
    (work / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=work,
    )  # fmt: skip
    keystore = work / "keystore.pem"
    keystore.write_text((work / "server.key").read_text() + (work / "server.pem").read_text())
    return keystore, work / "ca.pem"


@dataclass
class Secured:
    kafka: LocalKafka
    ca: Path
    secrets: Path

    def env(self, password: str = PASSWORD) -> dict[str, str]:
        pw = self.secrets / f"kafka-password-{len(list(self.secrets.iterdir()))}"
        pw.write_text(password + "\n")
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD_FILE": str(pw),
            "KAFKA_SSL_CAFILE": str(self.ca),
        }


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    work = tmp_path_factory.mktemp("tls")
    keystore, ca = make_certificates(work)
    secrets = work / "secrets"
    secrets.mkdir()
    listener = SaslSslListener(keystore, {USER: PASSWORD})
    with LocalKafka(sasl_ssl=listener) as kafka:
        topics.ensure_topics(kafka.bootstrap_servers)
        yield Secured(kafka, ca, secrets)


def _send(bootstrap: str, security: KafkaSecurity, lines: list[bytes]) -> None:
    from kafka import KafkaProducer

    from tools.produce import route

    producer = KafkaProducer(bootstrap_servers=bootstrap, **security.kafka_python())
    try:
        for raw in lines:
            topic, key = route(raw)
            producer.send(topic, key=key, value=raw)
        producer.flush(timeout=60)
    finally:
        producer.close()


def test_worker_and_clients_work_over_sasl_ssl_and_never_log_the_password(
    secured: Secured, tmp_path: Path
) -> None:
    env = secured.env()
    security = KafkaSecurity.from_env(env)
    assert PASSWORD not in repr(security)
    bootstrap = secured.kafka.sasl_ssl_bootstrap_servers
    lines = [e if isinstance(e, bytes) else json.dumps(e).encode() for e in small_events()]
    _send(bootstrap, security, lines)
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n")
    worker = WorkerProcess(
        bootstrap, tmp_path, AS_OF, env={**env, "AVAILABILITY_API_TOKEN_FILE": str(token_file)}
    )
    try:
        deadline = time.monotonic() + 240
        statements: dict[tuple[str, bytes], object] = {}
        while time.monotonic() < deadline and len(statements) < 2:
            statements = latest_outputs(
                consume_outputs(
                    bootstrap, [topics.STATEMENTS.name], timeout_ms=1500, **security.kafka_python()
                )
            )
            time.sleep(1)
        assert {key for _, key in statements} == {b"PO-1|2026-03", b"PO-2|2026-03"}
        # health and metrics are open; the rest of the API asks for the token
        assert worker.get("/health")["status"] == "ok"
        with pytest.raises(urllib.error.HTTPError) as refused:
            worker.get("/statements/PO-1/2026-03")
        assert refused.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            worker.get("/statements/PO-1/2026-03", token="not-" + TOKEN)
        st = worker.get("/statements/PO-1/2026-03", token=TOKEN)
        assert st["contract_id"] == "PO-1"
        # Faust's own views too: the index, the router and the tables
        for page in ("/", "/router/", "/table/stage2-events/"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                worker.get(page)
            refused.value.close()  # the error holds the response's socket
            assert refused.value.code == 401, page
        url = f"http://127.0.0.1:{worker.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert b"availability_worker_degraded" in r.read()
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert PASSWORD not in log
    assert TOKEN not in log


def test_clients_without_credentials_or_with_a_wrong_password_are_refused(
    secured: Secured, tmp_path: Path
) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    bootstrap = secured.kafka.sasl_ssl_bootstrap_servers
    # plaintext against the TLS listener, TLS without SASL, and a wrong password
    attempts = [
        KafkaSecurity(),
        KafkaSecurity(protocol="SSL", cafile=str(secured.ca)),
        KafkaSecurity.from_env(secured.env(password="wrong-password")),
    ]

    def list_topics(security: KafkaSecurity) -> list[str]:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=5000,
            api_version_auto_timeout_ms=5000,
            **security.kafka_python(),
        )
        try:
            return list(admin.list_topics())
        finally:
            admin.close()

    for security in attempts:
        with pytest.raises(KafkaError):
            list_topics(security)
    # a refused admin client leaves its socket to the garbage collector
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    # a worker with the wrong password processes nothing and says why
    wrong = WorkerProcess(bootstrap, tmp_path, AS_OF, env=secured.env(password="wrong-password"))
    try:
        code = wrong.proc.wait(timeout=120)
    finally:
        wrong.stop()
    log = wrong.log_path.read_text(errors="replace")
    assert code != 0
    assert "wrong-password" not in log
    # the broker may close the socket before the client reads its SASL error,
    # so the client's own words vary; the worker's refusal does not
    assert "cannot use Kafka at" in log, log[-2000:]
