"""Migrations with a way back: down to any version and up again, on chDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from fold.replay import ReplayResult
from sinks.dsn import StoreSettings
from sinks.migrate import Migration, MigrationError, load_migrations, render_migration
from sinks.store import ClickHouseStore

pytestmark = pytest.mark.clickhouse

MIGRATIONS = load_migrations(StoreSettings().migrations_dir)

#: The checksums ``schema_migrations`` holds in every store migrated before
#: the files had down steps: the forward part of each file must keep them.
RECORDED_CHECKSUMS = {
    1: "0206573614437d7d708f02fe21d60535cc828e33335d4a8a6e56e93d97ba609d",
    2: "ec2d6433d9bac7c5926726a36cd04446a9fade3cf65df309785ecf0e583dbd11",
    3: "0970667be8cec458b687ef1d22795a86c09435d32857e9ffe89d74a2b2083b2b",
    4: "b4730afbacaa8e1c4e0d652452a2302849a0fbd765e131364f15fa247641d4b4",
    5: "6f6d0d3e70ab55b6f35dec6a15b3f750ce296c7d9b7b688552d81ab2873ac1b4",
    6: "1b4dbe324cbe9d9902a01e4f342478525b0081f3d30a13b5c6d9704fa63205ca",
    7: "a28e6640c747b696fe2934ae1d794b6f211ba190143096e58c85fbc672fedd5e",
}

Schema = dict[str, tuple[str, tuple[tuple[str, str, str], ...]]]


def schema(store: ClickHouseStore, database: str | None = None) -> Schema:
    """Every table of the database: its engine and its (column, type, default) list."""
    db = database or store.db
    engines = dict(
        store.client.query(
            "SELECT name, engine FROM system.tables WHERE database = {d:String}",
            parameters={"d": db},
        ).result_rows
    )
    columns: dict[str, list[tuple[str, str, str]]] = {}
    for table, name, type_, default in store.client.query(
        "SELECT table, name, type, default_expression FROM system.columns "
        "WHERE database = {d:String} ORDER BY table, position",
        parameters={"d": db},
    ).result_rows:
        columns.setdefault(str(table), []).append((str(name), str(type_), str(default)))
    return {str(t): (str(e), tuple(columns.get(str(t), ()))) for t, e in engines.items()}


def first_migrations(directory: Path, count: int, *, with_down: bool = True) -> Path:
    """A migrations folder holding the first ``count`` files (forward parts only unless
    ``with_down``)."""
    directory.mkdir()
    for mig in MIGRATIONS[:count]:
        text = mig.text + (f"-- down\n{mig.down}" if with_down else "")
        (directory / f"{mig.label}.sql").write_text(text, encoding="utf-8")
    return directory


def fresh(store: ClickHouseStore, database: str, migrations_dir: Path) -> ClickHouseStore:
    """A second store on the same engine, in its own database."""
    return ClickHouseStore(
        store.client, StoreSettings(database=database, migrations_dir=migrations_dir)
    )


def test_every_migration_has_a_way_back_and_keeps_its_recorded_checksum() -> None:
    assert {m.version: m.checksum for m in MIGRATIONS} == RECORDED_CHECKSUMS
    for mig in MIGRATIONS:
        down = render_migration(mig, StoreSettings(), down=True)
        assert down, mig.label
        assert all("{{" not in sql and "IF EXISTS" in sql for sql in down), mig.label


def test_down_steps_drop_distributed_then_local_tables_on_a_cluster() -> None:
    cfg = StoreSettings(database="sla", cluster="prod")
    (raw,) = (m for m in MIGRATIONS if m.name == "raw_events")
    assert render_migration(raw, cfg, down=True) == [
        "DROP TABLE IF EXISTS sla.raw_events ON CLUSTER prod SYNC",
        "DROP TABLE IF EXISTS sla.raw_events_local ON CLUSTER prod SYNC",
    ]
    (sizes,) = (m for m in MIGRATIONS if m.name == "dead_letter_sizes")
    local, dist = render_migration(sizes, cfg, down=True)
    assert local.startswith("ALTER TABLE sla.dead_letters_local ON CLUSTER prod\n")
    assert dist.startswith("ALTER TABLE sla.dead_letters ON CLUSTER prod\n")
    assert "DROP COLUMN IF EXISTS raw_size" in dist


def test_a_file_without_a_down_section_is_all_forward() -> None:
    mig = Migration.parse(1, "x", "CREATE TABLE t (a UInt8);\n")
    assert (mig.text, mig.down) == ("CREATE TABLE t (a UInt8);\n", "")
    split = Migration.parse(1, "x", "CREATE TABLE t (a UInt8);\n-- down\nDROP TABLE t;\n")
    assert (split.text, split.down) == ("CREATE TABLE t (a UInt8);\n", "DROP TABLE t;\n")
    assert split.checksum == mig.checksum


def test_down_one_version_at_a_time_to_zero_and_up_again(
    store: ClickHouseStore, replay: ReplayResult, tmp_path: Path
) -> None:
    top = schema(store)
    assert top, "the fixture migrated the store"
    seen = [top]
    for version in range(len(MIGRATIONS) - 1, -1, -1):
        assert store.migrate_down(version) == [MIGRATIONS[version].label]
        assert sorted(store.applied_migrations()) == [m.version for m in MIGRATIONS[:version]]
        now = schema(store)
        assert now != seen[-1], f"undoing {MIGRATIONS[version].label} changed nothing"
        # the same tables as a store migrated with the first `version` files only
        ref = fresh(
            store, f"{store.db}_v{version}", first_migrations(tmp_path / f"v{version}", version)
        )
        try:
            ref.migrate()
            assert now == schema(store, ref.db), f"down to {version}"
        finally:
            store.client.command(f"DROP DATABASE IF EXISTS {ref.db}")
        seen.append(now)
    assert set(seen[-1]) == {"schema_migrations"}
    assert store.migrate_down(0) == []
    assert store.migrate() == [m.label for m in MIGRATIONS]
    assert schema(store) == top
    assert store.write_outputs(replay.outputs) > 0
    store.write_dead_letters(replay.dead_letters)


def test_down_in_one_call_runs_newest_first(store: ClickHouseStore) -> None:
    assert store.migrate_down(3) == [m.label for m in reversed(MIGRATIONS[3:])]
    assert set(schema(store)) == {
        "schema_migrations",
        "raw_events",
        "minute_states",
        "service_months",
        "contract_months",
        "claim_decisions",
    }
    assert store.migrate() == [m.label for m in MIGRATIONS[3:]]


def test_a_migration_without_a_way_back_stops_the_whole_descent(
    store: ClickHouseStore, tmp_path: Path
) -> None:
    folder = first_migrations(tmp_path / "m", len(MIGRATIONS))
    last = MIGRATIONS[-1]
    (folder / f"{last.label}.sql").write_text(last.text, encoding="utf-8")  # no down step
    partial = fresh(store, store.db, folder)
    before = schema(store)
    with pytest.raises(MigrationError, match=f"{last.label} has no down step"):
        partial.migrate_down(0)
    assert schema(store) == before
    assert sorted(store.applied_migrations()) == [m.version for m in MIGRATIONS]
    with pytest.raises(MigrationError, match="versions start at 0"):
        store.migrate_down(-1)


def test_an_edited_or_missing_file_is_not_undone(store: ClickHouseStore, tmp_path: Path) -> None:
    edited = first_migrations(tmp_path / "edited", len(MIGRATIONS))
    last = MIGRATIONS[-1]
    (edited / f"{last.label}.sql").write_text(f"{last.text}-- edited\n-- down\n{last.down}")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        fresh(store, store.db, edited).migrate_down(0)
    missing = first_migrations(tmp_path / "missing", len(MIGRATIONS) - 1)
    with pytest.raises(MigrationError, match=f"version {last.version} is applied but has no"):
        fresh(store, store.db, missing).migrate_down(0)
    assert sorted(store.applied_migrations()) == [m.version for m in MIGRATIONS]


def test_a_store_migrated_before_the_down_steps_still_opens(
    store: ClickHouseStore, tmp_path: Path
) -> None:
    # the files as they were: forward statements only
    old = fresh(store, f"{store.db}_old", first_migrations(tmp_path / "old", 99, with_down=False))
    try:
        assert old.migrate() == [m.label for m in MIGRATIONS]
        assert old.applied_migrations() == RECORDED_CHECKSUMS
        now = fresh(store, old.db, StoreSettings().migrations_dir)
        assert now.migrate() == []
        assert schema(store, old.db) == schema(store)
        assert now.migrate_down(0) == [m.label for m in reversed(MIGRATIONS)]
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {old.db}")
