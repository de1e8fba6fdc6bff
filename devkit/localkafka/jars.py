"""The broker's jars, fetched from Maven Central through ``deploy/kafka/pom.xml`` and cached."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from devkit.localkafka.base import (
    _MARKER_NAME,
    POM,
    LocalKafkaError,
    ToolMissingError,
    _check_version,
    _major,
    default_cache_dir,
    default_version,
)


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
            jars = _copy_dependencies(mvn, version, scratch, timeout)
            _install(vdir, scratch, version, jars)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return libs


def _copy_dependencies(mvn: str, version: str, scratch: Path, timeout: float) -> list[str]:
    """Have Maven copy the broker jars of ``version`` into ``scratch``; their names, sorted."""
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
    return jars


def _install(vdir: Path, scratch: Path, version: str, jars: list[str]) -> None:
    """Rename the copied jars into ``<vdir>/libs``, then write the marker that says so."""
    libs = vdir / "libs"
    shutil.rmtree(libs, ignore_errors=True)
    scratch.rename(libs)
    tmp_marker = vdir / f"{_MARKER_NAME}.tmp"
    tmp_marker.write_text(
        json.dumps({"version": version, "jars": jars}, indent=1), encoding="utf-8"
    )
    tmp_marker.replace(vdir / _MARKER_NAME)
