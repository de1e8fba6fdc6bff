"""Dead letters in ClickHouse: a truncated raw copy keeps its size and digest.

A dead letter carries at most the first 256 KiB of its input (so it always
fits a Kafka message); the ``dead_letters`` table stores that copy with the
whole input's size, whether it was cut and its SHA-256 (migration 0006).
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import pytest

from fold.deadletters import RAW_KEEP, DeadLetter
from sinks import lineage as ln
from sinks import tables
from sinks.dsn import StoreSettings
from sinks.migrate import load_migrations, render_migration
from sinks.store import connect

_ids = itertools.count()


def _letters() -> tuple[bytes, DeadLetter, DeadLetter]:
    big = b'{"type":"probe","error":"' + b"x" * 900_000 + b'"}'
    src = {"topic": "availability.probes", "partition": 2, "offset": 7}
    return (
        big,
        DeadLetter("oversize", "too big", big, src),
        DeadLetter("invalid_json", "bad", b"{oops", {"file": "f.jsonl", "line": 3}),
    )


def test_a_truncated_dead_letter_row_describes_the_whole_input() -> None:
    big, letter, small = _letters()
    row = dict(
        zip(tables.COLUMNS[tables.DEAD_LETTERS], ln.dead_letter_row(letter.to_json()), strict=True)
    )
    assert row["raw"] == big[:RAW_KEEP]
    assert (row["raw_size"], row["raw_truncated"]) == (len(big), True)
    assert row["raw_sha256"] == hashlib.sha256(big).hexdigest()
    plain = dict(
        zip(tables.COLUMNS[tables.DEAD_LETTERS], ln.dead_letter_row(small.to_json()), strict=True)
    )
    assert (plain["raw"], plain["raw_size"], plain["raw_truncated"]) == (b"{oops", 5, False)
    # a record written before dead letters carried sizes: derived from its raw copy
    old = {k: v for k, v in small.to_json().items() if not k.startswith("raw_s")}
    del old["raw_truncated"]
    assert ln.dead_letter_row(old) == ln.dead_letter_row(small.to_json())


def _alter(sql: str) -> str:
    return next(line for line in sql.splitlines() if line.startswith("ALTER"))


def test_the_migration_alters_local_and_distributed_tables_on_a_cluster() -> None:
    cfg = StoreSettings(database="sla", cluster="prod")
    [mig] = [m for m in load_migrations(cfg.migrations_dir) if m.version == 6]
    sql = render_migration(mig, cfg)
    assert [_alter(s) for s in sql] == [
        "ALTER TABLE sla.dead_letters_local ON CLUSTER prod",
        "ALTER TABLE sla.dead_letters ON CLUSTER prod",
    ]
    [plain] = render_migration(mig, StoreSettings())
    assert _alter(plain) == "ALTER TABLE availability.dead_letters"


@pytest.mark.clickhouse
def test_chdb_keeps_sizes_and_fills_them_for_rows_from_before(
    chdb_dsn: str, tmp_path: Path
) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(StoreSettings().migrations_dir.glob("*.sql"))[:5]:
        shutil.copy(path, before)
    db = f"dl{next(_ids)}"
    old = connect(chdb_dsn, database=db, migrations_dir=before)
    try:
        old.migrate()
        old.client.command(
            f"INSERT INTO {db}.dead_letters (dead_letter_id, reason, detail, raw, source_kind, "
            "source) VALUES ('old', 'invalid_json', 'd', '{oops', 'file', '{}')"
        )
    finally:
        old.close()
    store = connect(chdb_dsn, database=db)
    try:
        assert store.migrate()[:1] == ["0006_dead_letter_sizes"]  # then any later ones
        _, letter, _ = _letters()
        store.write_dead_letters([letter])
        got = store.client.query(
            f"SELECT dead_letter_id, length(raw), raw_size, raw_truncated, raw_sha256 "
            f"FROM {db}.dead_letters ORDER BY raw_size"
        ).result_rows
        big = letter.raw
        assert [tuple(r[1:]) for r in got] == [
            (5, 5, False, hashlib.sha256(b"{oops").hexdigest()),
            (RAW_KEEP, len(big), True, hashlib.sha256(big).hexdigest()),
        ]
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {db}")
        store.close()
