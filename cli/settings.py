"""Where the commands keep their state when no option says otherwise."""

from __future__ import annotations

from pathlib import Path

from streams.config import data_dir as configured


def data_dir() -> Path:
    """Where embedded state lives: ``$AVAILABILITY_DATA``, the config file's ``data``, ./data."""
    return configured()


def default_store() -> str:
    """The embedded ClickHouse (chDB) under the data directory."""
    return f"chdb://{data_dir() / 'clickhouse'}"
