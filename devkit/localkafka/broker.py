"""The broker process itself: :class:`LocalKafka`, one KRaft broker+controller on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from devkit.localkafka.base import (
    _BROKER_LOG,
    _BROKER_MAIN_CLASS,
    _OWNED_MARKER,
    _STORAGE_TOOL_CLASSES,
    LocalKafkaError,
    ToolMissingError,
    _check_version,
    _major,
    _tail,
    default_cache_dir,
    default_version,
    free_port,
)
from devkit.localkafka.config import (
    SaslSslListener,
    _broker_properties,
    _existing_cluster_id,
    _logging_opts,
    _new_cluster_id,
    _write_properties,
)
from devkit.localkafka.jars import _version_dir, fetch, is_fetched
from devkit.localkafka.processes import _kill_group
from devkit.localkafka.wire import _probe, _raw_metadata_brokers


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
