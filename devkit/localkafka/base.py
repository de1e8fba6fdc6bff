"""The local broker's constants, errors and small helpers (versions, tools, ports)."""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Collection
from pathlib import Path
from typing import Final

DEFAULT_KAFKA_VERSION: Final = "3.9.1"
"""Broker release used when neither an argument nor ``KAFKA_VERSION`` names one."""

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
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
