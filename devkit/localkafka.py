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

import argparse
import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "LocalKafka",
    "LocalKafkaError",
    "ToolMissingError",
    "default_cache_dir",
    "default_version",
    "fetch",
    "free_port",
    "is_fetched",
    "missing_tools",
    "stop_pid",
]

DEFAULT_KAFKA_VERSION: Final = "3.9.1"
"""Broker release used when neither an argument nor ``KAFKA_VERSION`` names one."""

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
DEPLOY_DIR: Final = REPO_ROOT / "deploy" / "kafka"
POM: Final = DEPLOY_DIR / "pom.xml"
LOG4J1_CONFIG: Final = DEPLOY_DIR / "log4j.properties"
LOG4J2_CONFIG: Final = DEPLOY_DIR / "log4j2.properties"

_MARKER_NAME: Final = "fetched.json"
_OWNED_MARKER: Final = ".localkafka-owned"
_BROKER_LOG: Final = "broker.log"
_VERSION_RE: Final = re.compile(r"^\d+\.\d+\.\d+(?:[-.][0-9A-Za-z]+)*$")
_STORAGE_TOOL_CLASSES: Final = ("kafka.tools.StorageTool", "org.apache.kafka.tools.StorageTool")
_BROKER_MAIN_CLASS: Final = "kafka.Kafka"


class LocalKafkaError(RuntimeError):
    """Fetching, formatting, starting or stopping the local broker failed."""


class ToolMissingError(LocalKafkaError):
    """A required program (``java`` or ``mvn``) is not on ``PATH``."""


# --------------------------------------------------------------------------- helpers


def default_version() -> str:
    """Return ``$KAFKA_VERSION`` if set and non-empty, else :data:`DEFAULT_KAFKA_VERSION`."""
    return os.environ.get("KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def default_cache_dir() -> Path:
    """Return ``$AVAILABILITY_CACHE`` if set and non-empty, else ``<repo>/.cache``."""
    env = os.environ.get("AVAILABILITY_CACHE")
    return Path(env) if env else REPO_ROOT / ".cache"


def _check_version(version: str) -> str:
    if not _VERSION_RE.match(version):
        raise LocalKafkaError(f"not a Kafka release version: {version!r}")
    return version


def _major(version: str) -> int:
    return int(_check_version(version).split(".", 1)[0])


def missing_tools(*, need_mvn: bool = True) -> list[str]:
    """Return the names of required programs not found on ``PATH``.

    ``java`` is always required; ``mvn`` only when ``need_mvn`` (i.e. when the
    jars of the wanted version are not cached yet).
    """
    names = ["java", "mvn"] if need_mvn else ["java"]
    return [name for name in names if shutil.which(name) is None]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def free_port(taken: Collection[int] = ()) -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago and is not in ``taken``.

    The OS may hand the port out again before the caller binds it.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


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


# --------------------------------------------------------------------------- fetch


def _version_dir(version: str, cache_dir: Path) -> Path:
    return cache_dir / f"kafka-{_check_version(version)}"


def is_fetched(version: str | None = None, cache_dir: Path | None = None) -> bool:
    """Tell whether :func:`fetch` already completed for ``version`` in ``cache_dir``.

    True only if the marker written after a successful copy exists and every jar
    it lists is still present in the ``libs`` directory.
    """
    version = version or default_version()
    vdir = _version_dir(version, cache_dir or default_cache_dir())
    try:
        marker = json.loads((vdir / _MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    jars = marker.get("jars") if isinstance(marker, dict) else None
    if not isinstance(jars, list) or f"kafka_2.13-{version}.jar" not in jars:
        return False
    libs = vdir / "libs"
    return all(isinstance(jar, str) and (libs / jar).is_file() for jar in jars)


def fetch(
    version: str | None = None,
    cache_dir: Path | None = None,
    *,
    timeout: float = 900.0,
) -> Path:
    """Make the broker jars of ``version`` available and return their ``libs`` directory.

    Runs ``mvn dependency:copy-dependencies`` on ``deploy/kafka/pom.xml`` into
    ``<cache_dir>/kafka-<version>/libs`` unless :func:`is_fetched` already holds.
    The copy goes to a scratch directory that is renamed into place, and the
    marker file is written last, so an interrupted fetch is never mistaken for
    a complete one.  Concurrent callers are serialised by a file lock.

    Raises :class:`ToolMissingError` if ``mvn`` is needed but absent and
    :class:`LocalKafkaError` if Maven fails (the message holds its output tail).
    """
    version = _check_version(version or default_version())
    vdir = _version_dir(version, cache_dir or default_cache_dir())
    libs = vdir / "libs"
    if is_fetched(version, vdir.parent):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ToolMissingError(f"mvn is not on PATH; it is needed to fetch Kafka {version}")
    if not POM.is_file():
        raise LocalKafkaError(f"missing {POM}; run from a checkout of the repository")
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_fetched(version, vdir.parent):
            return libs
        scratch = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=vdir))
        try:
            cmd = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={scratch}",
                f"-Dkafka.version={version}",
                f"-Dkafka.major={_major(version)}",
            ]
            try:
                done = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise LocalKafkaError(f"mvn did not finish within {timeout:.0f}s") from exc
            jars = sorted(p.name for p in scratch.glob("*.jar"))
            if done.returncode != 0 or f"kafka_2.13-{version}.jar" not in jars:
                output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
                raise LocalKafkaError(
                    f"fetching Kafka {version} failed (mvn exit {done.returncode}):\n{output}"
                )
            shutil.rmtree(libs, ignore_errors=True)
            scratch.rename(libs)
            tmp_marker = vdir / f"{_MARKER_NAME}.tmp"
            tmp_marker.write_text(
                json.dumps({"version": version, "jars": jars}, indent=1), encoding="utf-8"
            )
            tmp_marker.replace(vdir / _MARKER_NAME)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return libs


# --------------------------------------------------------------------------- broker


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


def _probe(bootstrap: str, timeout_ms: int) -> None:
    """Raise unless kafka-python completes describe-cluster and list-topics."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="localkafka-probe",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
    try:
        admin.describe_cluster()
        admin.list_topics()
    finally:
        admin.close()


def _kafka_request(
    sock: socket.socket, api_key: int, version: int, corr: int, body: bytes
) -> bytes:
    """Send one request (header v1, client id "localkafka") and return the response body."""
    client_id = b"localkafka"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)

    def read(n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = sock.recv(n - len(chunks))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            chunks += chunk
        return bytes(chunks)

    (size,) = struct.unpack(">i", read(4))
    response = read(size)
    (got_corr,) = struct.unpack_from(">i", response)
    if got_corr != corr:
        raise ConnectionError(f"correlation id {got_corr} != {corr}")
    return response[4:]


def _raw_metadata_brokers(port: int, timeout: float) -> int:
    """Return how many brokers a Metadata v4 request on ``port`` reports.

    Uses a plain socket (ApiVersions v0, then Metadata v4 for no topics; both
    exist in Kafka 3.x and 4.x) so a broker that is not ready yet costs no
    client threads; kafka-python's admin client leaks its I/O thread when its
    constructor cannot bootstrap.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        versions = _kafka_request(sock, api_key=18, version=0, corr=1, body=b"")
        (error_code,) = struct.unpack_from(">h", versions)
        if error_code != 0:
            raise ConnectionError(f"ApiVersions error code {error_code}")
        # topics: empty array, allow_auto_topic_creation: false
        metadata = _kafka_request(sock, api_key=3, version=4, corr=2, body=struct.pack(">ib", 0, 0))
        _throttle_ms, brokers = struct.unpack_from(">ii", metadata)
        return int(brokers)


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


class LocalKafka:
    """One KRaft broker+controller process on 127.0.0.1, usable as a context manager.

    Contract:

    * :meth:`start` fetches the jars if needed (unless ``fetch_missing`` is
      false), formats the storage of ``data_dir`` (an already formatted
      directory is reused as is), launches the JVM in its own process group
      and returns only once a real metadata request (describe-cluster and
      list-topics) succeeded.  Otherwise it stops whatever it launched and
      raises :class:`LocalKafkaError` whose message ends with the broker log
      tail (or :class:`ToolMissingError`).
    * :attr:`bootstrap_servers` is ``"127.0.0.1:<port>"``, valid while running.
    * :meth:`stop` sends SIGTERM to the process group, waits up to ``timeout``
      seconds, then SIGKILLs it; it is idempotent.  A data directory that this
      object created itself (``data_dir=None``) is deleted; one passed in is kept.
    * ``extra_properties`` are written last into ``server.properties`` and so
      override the defaults (e.g. extra listeners).  The readiness check and
      :attr:`bootstrap_servers` use the PLAINTEXT listener on 127.0.0.1, so
      that listener must stay reachable without authentication.
    * :meth:`kill` is a crash: SIGKILL, nothing flushed. The ports and the
      data directory are kept, so a later :meth:`start` brings the same
      broker back where clients expect it (the same ``bootstrap_servers``),
      with what it had written to disk.
    * With ``die_with_parent`` (the default, Linux with ``setpriv`` only) the
      broker also gets SIGTERM if the thread that started it dies, so a killed
      test run does not leave a broker behind.

    The broker's stdout/stderr (WARN-level logging) go to ``<data_dir>/broker.log``.
    """

    def __init__(
        self,
        version: str | None = None,
        *,
        cache_dir: Path | None = None,
        data_dir: Path | None = None,
        extra_properties: Mapping[str, str] | None = None,
        heap: str = "512m",
        startup_timeout: float = 90.0,
        fetch_missing: bool = True,
        die_with_parent: bool = True,
        sasl_ssl: SaslSslListener | None = None,
    ) -> None:
        self.version: Final = _check_version(version or default_version())
        self.sasl_ssl = sasl_ssl
        self.sasl_port: int | None = None
        self.cache_dir: Final = cache_dir or default_cache_dir()
        self.extra_properties: dict[str, str] = dict(extra_properties or {})
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.fetch_missing = fetch_missing
        self.die_with_parent = die_with_parent
        self._requested_data_dir = data_dir
        self._data_dir: Path | None = None
        self._owns_data_dir = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port: int | None = None
        self.controller_port: int | None = None
        #: set by kill(): the next start() binds the same ports again
        self._keep_ports = False

    # -- properties

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:<port>"`` of the PLAINTEXT listener; raises if not started."""
        if self._port is None or self._proc is None:
            raise LocalKafkaError("the broker is not running")
        return f"127.0.0.1:{self._port}"

    @property
    def sasl_ssl_bootstrap_servers(self) -> str:
        """``"127.0.0.1:<port>"`` of the SASL_SSL listener (with ``sasl_ssl`` only)."""
        if self.sasl_port is None or self._proc is None:
            raise LocalKafkaError("the broker is not running with a SASL_SSL listener")
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the JVM (also its process-group id), or None if not running."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Tell whether the broker process was started here and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def data_dir(self) -> Path:
        """Directory with ``server.properties``, ``broker.log`` and the ``kraft-logs``."""
        if self._data_dir is None:
            raise LocalKafkaError("the broker has not been started")
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """The file receiving the broker's stdout and stderr."""
        return self.data_dir / _BROKER_LOG

    # -- lifecycle

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalKafka:
        """Start the broker and wait until it serves metadata; return ``self``."""
        if self._proc is not None:
            raise LocalKafkaError("the broker is already running")
        java = shutil.which("java")
        if java is None:
            raise ToolMissingError("java is not on PATH; it is needed to run a Kafka broker")
        if self.fetch_missing:
            libs = fetch(self.version, self.cache_dir)
        elif is_fetched(self.version, self.cache_dir):
            libs = _version_dir(self.version, self.cache_dir) / "libs"
        else:
            raise LocalKafkaError(f"Kafka {self.version} is not fetched into {self.cache_dir}")
        if self._keep_ports and self._data_dir is not None:
            pass  # a restart after kill(): the same directory
        elif self._requested_data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="localkafka-"))
            self._owns_data_dir = True
        else:
            self._data_dir = self._requested_data_dir.resolve()
            self._data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for attempt in range(3):
                try:
                    self._launch(java, libs)
                    return self
                except LocalKafkaError as exc:
                    self._terminate()
                    if attempt == 2 or "Address already in use" not in str(exc):
                        raise
                    if self._keep_ports:
                        time.sleep(2.0)  # the killed broker's sockets are still closing
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, java: str, libs: Path) -> None:
        data_dir = self.data_dir
        major = _major(self.version)
        if not self._keep_ports or self._port is None or self.controller_port is None:
            self._port = free_port()
            self.controller_port = free_port({self._port})
            if self.sasl_ssl is not None:
                self.sasl_port = free_port({self._port, self.controller_port})
        extra = dict(self.extra_properties)
        if self.sasl_ssl is not None and self.sasl_port is not None:
            extra = {
                **self.sasl_ssl.properties(self._port, self.controller_port, self.sasl_port),
                **extra,
            }
        props_path = data_dir / "server.properties"
        props = _broker_properties(
            port=self._port,
            controller_port=self.controller_port,
            log_dir=data_dir / "kraft-logs",
            major=major,
            extra=extra,
        )
        _write_properties(props_path, props)
        classpath = f"{libs}{os.sep}*"
        self._format(java, classpath, props_path, major, _existing_cluster_id(props))

        cmd = [
            java,
            f"-Xmx{self.heap}",
            "-Xms64m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={data_dir}",
            *_logging_opts(major),
            "-cp",
            classpath,
            _BROKER_MAIN_CLASS,
            str(props_path),
        ]
        setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        if self.die_with_parent and setpriv is not None:
            cmd = [setpriv, "--pdeathsig", "TERM", *cmd]
        self._log = open(data_dir / _BROKER_LOG, "ab")  # noqa: SIM115 - closed in _terminate
        self._log.write(f"--- starting Kafka {self.version} at {time.ctime()}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            start_new_session=True,
            close_fds=True,
        )
        self._wait_ready(self._proc, self._port)

    def _format(
        self, java: str, classpath: str, props_path: Path, major: int, cluster_id: str | None
    ) -> None:
        """Format the log directories; a directory already formatted keeps its cluster id."""
        cluster_id = cluster_id or _new_cluster_id()
        outputs: list[str] = []
        for main_class in _STORAGE_TOOL_CLASSES:
            cmd = [
                java,
                "-Xmx256m",
                *_logging_opts(major),
                "-cp",
                classpath,
                main_class,
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props_path),
                "--ignore-formatted",
            ]
            if self.sasl_ssl is not None:
                for user, password in self.sasl_ssl.scram_users.items():
                    cmd += [
                        "--add-scram",
                        f"{self.sasl_ssl.mechanism}=[name={user},password={password}]",
                    ]
            try:
                done = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired as exc:
                raise LocalKafkaError("formatting the KRaft storage timed out") from exc
            if done.returncode == 0:
                return
            outputs.append(f"{main_class}: exit {done.returncode}\n{done.stdout}{done.stderr}")
            if "Could not find or load main class" not in done.stderr:
                break
        raise LocalKafkaError("formatting the KRaft storage failed:\n" + "\n".join(outputs))

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no connection yet"
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise LocalKafkaError(
                    f"Kafka {self.version} exited with code {code} during start-up; "
                    f"log tail ({self.log_path}):\n{_tail(self.log_path)}"
                )
            try:
                brokers = _raw_metadata_brokers(port, timeout=5.0)
            except (OSError, struct.error) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                brokers = 0
            if brokers > 0:
                remaining_ms = int(max(1.0, min(10.0, deadline - time.monotonic())) * 1000)
                try:
                    _probe(f"127.0.0.1:{port}", remaining_ms)
                except Exception as exc:  # any client error means "not ready yet"
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    return
            time.sleep(0.25)
        raise LocalKafkaError(
            f"Kafka {self.version} did not answer a metadata request within "
            f"{self.startup_timeout:.0f}s (last error: {last_error}); "
            f"log tail ({self.log_path}):\n{_tail(self.log_path)}"
        )

    def _terminate(self, timeout: float = 30.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """Kill the broker outright (SIGKILL to its process group), as a crash would.

        Its ports and data directory are kept: :meth:`start` afterwards runs
        the same broker again on the same ports, with the same data.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            raise LocalKafkaError("the broker is not running")
        _kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._keep_ports = True

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout`` s); idempotent.

        Removes the data directory if this object created it.
        """
        self._terminate(timeout)
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._owns_data_dir = False

    def detach(self) -> int:
        """Leave the running broker to itself and return its pid.

        Afterwards this object no longer stops it; use :func:`stop_pid`.  A data
        directory created by this object is marked so :func:`stop_pid` deletes it.
        The broker must have been started with ``die_with_parent=False``.
        """
        if self._proc is None:
            raise LocalKafkaError("the broker is not running")
        if self.die_with_parent:
            raise LocalKafkaError("detach() needs LocalKafka(die_with_parent=False)")
        pid = self._proc.pid
        if self._owns_data_dir:
            (self.data_dir / _OWNED_MARKER).write_text(f"{pid}\n", encoding="utf-8")
            self._owns_data_dir = False
        # Forget the child without killing it; the process is reaped by init later.
        self._proc.returncode = 0
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return pid


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# --------------------------------------------------------------------------- detached brokers


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def stop_pid(pid: int, timeout: float = 30.0) -> bool:
    """Stop a broker started by ``start`` (detached); return False if it was not running.

    Refuses (LocalKafkaError) to signal a live process whose command line is
    not a Kafka broker, so a stale pid file cannot hit an unrelated process.
    Deletes the broker's data directory if ``start`` created it.
    """
    if not _alive(pid):
        return False
    cmdline = _cmdline(pid)
    if cmdline is not None and _BROKER_MAIN_CLASS not in cmdline:
        raise LocalKafkaError(f"pid {pid} is not a Kafka broker: {' '.join(cmdline)[:200]}")
    data_dir = Path(cmdline[-1]).parent if cmdline else None
    _kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        _kill_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    if data_dir is not None and (data_dir / _OWNED_MARKER).is_file():
        shutil.rmtree(data_dir, ignore_errors=True)
    return True


# --------------------------------------------------------------------------- CLI


class _Interrupted(BaseException):
    """Raised from a signal handler to unwind ``run`` cleanly."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        raise _Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _ignoring_signals() -> Iterator[None]:
    sigs = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _cmd_fetch(args: argparse.Namespace) -> int:
    print(fetch(args.version, args.cache_dir))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    broker = LocalKafka(args.version, cache_dir=args.cache_dir, data_dir=args.data_dir)
    status = 0
    try:
        with _stop_on_signals():
            broker.start()
            print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
            while broker.is_running():
                time.sleep(0.5)
            print(
                f"Kafka exited unexpectedly; log tail:\n{_tail(broker.log_path)}",
                file=sys.stderr,
            )
            status = 1
    except _Interrupted:
        pass
    finally:
        # A second signal must not cut the shutdown short.
        with _ignoring_signals():
            broker.stop()
    return status


def _cmd_start(args: argparse.Namespace) -> int:
    broker = LocalKafka(
        args.version, cache_dir=args.cache_dir, data_dir=args.data_dir, die_with_parent=False
    )
    broker.start()
    try:
        bootstrap = broker.bootstrap_servers
        _atomic_write(args.env_file, f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n")
        _atomic_write(args.pidfile, f"{broker.pid}\n")
    except BaseException:
        broker.stop()
        raise
    pid = broker.detach()
    print(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}  (pid {pid})")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    pidfile: Path = args.pidfile
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        print(f"no broker pid in {pidfile}", file=sys.stderr)
        return 0
    stopped = stop_pid(pid, args.timeout)
    pidfile.unlink(missing_ok=True)
    print(f"stopped Kafka pid {pid}" if stopped else f"Kafka pid {pid} was not running")
    return 0


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devkit.localkafka",
        description="Fetch and run a local single-node Apache Kafka broker (KRaft).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--version",
            default=None,
            help=f"Kafka release (default: $KAFKA_VERSION or {DEFAULT_KAFKA_VERSION})",
        )
        p.add_argument(
            "--cache-dir",
            type=Path,
            default=None,
            help="jar cache (default: $AVAILABILITY_CACHE or <repo>/.cache)",
        )

    p_fetch = sub.add_parser("fetch", help="download the broker jars; print the libs directory")
    common(p_fetch)
    p_fetch.set_defaults(func=_cmd_fetch)

    p_run = sub.add_parser("run", help="run a broker in the foreground until SIGTERM/SIGINT")
    common(p_run)
    p_run.add_argument("--data-dir", type=Path, default=None, help="keep data here (default: temp)")
    p_run.set_defaults(func=_cmd_run)

    p_start = sub.add_parser("start", help="start a detached broker")
    common(p_start)
    p_start.add_argument("--data-dir", type=Path, default=None, help="keep data here")
    p_start.add_argument("--pidfile", type=Path, required=True, help="write the JVM pid here")
    p_start.add_argument(
        "--env-file", type=Path, required=True, help="write KAFKA_BOOTSTRAP_SERVERS=... here"
    )
    p_start.set_defaults(func=_cmd_start)

    p_stop = sub.add_parser("stop", help="stop a broker started with 'start'")
    p_stop.add_argument("--pidfile", type=Path, required=True)
    p_stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    p_stop.set_defaults(func=_cmd_stop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m devkit.localkafka``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
