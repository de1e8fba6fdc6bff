"""Settings of the command line: flag, then environment, then a config file, then the default.

Two settings have a value outside the command line:

- ``store``: the ClickHouse DSN of every command that takes ``--store``
  (``$AVAILABILITY_STORE``; built-in: the embedded store under the data
  directory, or none for the worker);
- ``data``: the data directory (``$AVAILABILITY_DATA``; built-in ``./data``).

The config file is TOML: ``$AVAILABILITY_CONFIG`` if set (it must exist),
else ``availability.toml`` in the working directory if there is one::

    store = "http://availability@clickhouse:8123/availability"
    data = "/var/lib/availability"

A relative ``data`` or ``chdb://`` path in the file is relative to the
file's folder, so the file means the same from any working directory. An
unknown key, a value that is not a string or an unreadable file is a
:class:`ConfigError` (the command then fails with status 2).
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "availability.toml"
KEYS = ("store", "data")


class ConfigError(ValueError):
    """The config file cannot be read or holds something unknown (one line, with the file)."""


@dataclass(frozen=True)
class FileSettings:
    """What the config file says (``None``: it does not say, or there is no file)."""

    path: Path | None = None
    store: str | None = None
    data: Path | None = None


def config_path(environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The config file in effect: ``$AVAILABILITY_CONFIG``, else ``./availability.toml`` if any."""
    named = environ.get("AVAILABILITY_CONFIG")
    if named:
        path = Path(named)
        return path if path.is_absolute() else cwd / path
    found = cwd / CONFIG_FILE
    return found if found.is_file() else None


def _relative_to(folder: Path, dsn: str) -> str:
    """``dsn`` with a relative ``chdb://`` path made absolute against ``folder``."""
    if not dsn.startswith("chdb://"):
        return dsn
    rest = dsn[len("chdb://") :]
    path = rest.split("?", 1)[0]
    if path in ("", "memory", ":memory:") or path.startswith("/"):
        return dsn
    return f"chdb://{(folder / path).resolve()}{rest[len(path) :]}"


def read_file(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> FileSettings:
    """The settings of the config file in effect (empty when there is none)."""
    environ = os.environ if environ is None else environ
    path = config_path(environ, Path.cwd() if cwd is None else cwd)
    if path is None:
        return FileSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"the config file {path} has unknown keys {', '.join(unknown)} "
            f"(known: {', '.join(KEYS)})"
        )
    for key, value in data.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"the config file {path}: {key} must be a non-empty string")
    folder = path.resolve().parent
    return FileSettings(
        path=path,
        store=_relative_to(folder, data["store"]) if "store" in data else None,
        data=folder / data["data"] if "data" in data else None,
    )


def data_dir(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The data directory: ``$AVAILABILITY_DATA``, else the file's ``data``, else ``./data``."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if environ.get("AVAILABILITY_DATA"):
        return (cwd / environ["AVAILABILITY_DATA"]).resolve()
    from_file = read_file(environ, cwd).data
    return (from_file if from_file is not None else cwd / "data").resolve()


def store_dsn(
    flag: str | None,
    builtin: str | None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str | None:
    """The store of a command: ``flag``, else ``$AVAILABILITY_STORE``, else the file's, else
    ``builtin``."""
    if flag:
        return flag
    environ = os.environ if environ is None else environ
    if environ.get("AVAILABILITY_STORE"):
        return environ["AVAILABILITY_STORE"]
    from_file = read_file(environ, cwd).store
    return from_file if from_file is not None else builtin


def configure(args: argparse.Namespace) -> None:
    """Set ``args.store`` from the environment or the file when the flag was not given.

    Without any, it stays ``None`` (the command's own default, the embedded
    store) or becomes ``"none"`` for the worker. The file is read for every
    command, so a broken one fails them all (:class:`ConfigError`), not
    only those that happen to need it.
    """
    read_file()
    if hasattr(args, "store"):
        args.store = store_dsn(args.store, "none" if args.command == "worker" else None)


__all__ = [
    "CONFIG_FILE",
    "ConfigError",
    "FileSettings",
    "config_path",
    "configure",
    "data_dir",
    "store_dsn",
]
