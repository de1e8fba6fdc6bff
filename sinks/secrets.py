"""Secrets from the environment: ``NAME_FILE`` (a mounted secret file) or ``NAME``.

A file wins over the variable, so a deployment can keep secrets out of the
environment altogether (Kubernetes Secrets and compose secrets are files).
Values are never logged; errors name the variable, not the value.

The store's password is read here, and so are the worker's Kafka and API
secrets: the module lives in ``sinks`` because ``sinks`` imports nothing
from ``streams``, which depends on ``sinks`` already.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class SecretError(ValueError):
    """A secret file named in the environment is missing, unreadable or empty."""


def read_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The secret ``name`` from ``{name}_FILE`` or ``{name}``; None when neither is set."""
    env = os.environ if env is None else env
    path = env.get(f"{name}_FILE")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SecretError(f"cannot read {name}_FILE {path!r}: {exc.strerror}") from None
        if not value:
            raise SecretError(f"{name}_FILE {path!r} is empty")
        return value
    return env.get(name) or None
