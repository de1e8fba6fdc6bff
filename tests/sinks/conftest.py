"""Fixtures for the ClickHouse sink tests.

chDB allows one engine path per process, and reopening costs seconds, so
the session opens one engine (``chdb_dsn``) and keeps an anchor client on
it; each test gets its own database on that engine (``store``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.simulate import Scenario, default_as_of, write_jsonl
from fold.replay import ReplayResult, iter_lines, replay_lines
from sinks.store import ClickHouseStore, connect

#: One region keeps the replay to seconds; there are still outages, exclusions,
#: revisions, a non-zero credit, claims and malformed lines.
SCENARIO = Scenario(services=("api", "web"), regions=("eu-west-1",))

_counter = itertools.count()


@pytest.fixture(scope="session")
def replay(tmp_path_factory: pytest.TempPathFactory) -> ReplayResult:
    """One simulated month replayed through the core (shared, read-only)."""
    path = tmp_path_factory.mktemp("replay") / "month.jsonl"
    write_jsonl(SCENARIO, str(path))
    with path.open("rb") as fh:
        return replay_lines(iter_lines(fh), default_as_of(SCENARIO), source_name="month.jsonl")


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's one chDB engine, kept open by an anchor store."""
    path: Path = tmp_path_factory.mktemp("chdb") / "engine"
    dsn = f"chdb://{path}"
    anchor = connect(dsn, database="anchor")
    yield dsn
    anchor.close()


@pytest.fixture
def store(chdb_dsn: str) -> Iterator[ClickHouseStore]:
    """A migrated store in a fresh database of the session engine."""
    st = connect(chdb_dsn, database=f"t{next(_counter)}")
    st.migrate()
    yield st
    st.client.command(f"DROP DATABASE IF EXISTS {st.db}")
    st.close()
