"""What the compose tests share: the workers' names, a service's mounts, command and flags."""

from __future__ import annotations

import shlex
from pathlib import Path

from sla.model import JSON
from tests.deploy.conftest import COMPOSE_DIR

__all__ = ["WORKERS", "binds", "command", "flag"]

WORKERS = ("worker-1", "worker-2")


def binds(service: JSON) -> list[tuple[Path, str]]:
    """(host path, container path) of each bind mount of ``service``."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        else:
            source, target = str(volume).split(":")[:2]
            if not source.startswith((".", "/")):
                continue  # a named volume
        out.append(((COMPOSE_DIR / source).resolve(), target))
    return out


def command(service: JSON) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def flag(args: list[str], name: str) -> str:
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name:
            return args[i + 1]
    raise AssertionError(f"{name} not in {args}")
