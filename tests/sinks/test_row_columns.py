"""Every row mapping of ``sinks/rows.py`` against ``DESCRIBE TABLE`` of the migrated schema.

A column a mapping writes must exist with a type its values fit (checked
value by value over a replayed month, raw events from Kafka and files, dead
letters), and every column without a default must be written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fold.replay import ReplayResult
from sinks import lineage as ln
from sinks import rows as rw
from sinks import tables
from sinks.store import ClickHouseStore

pytestmark = pytest.mark.clickhouse

_INT = re.compile(r"^(U?)Int(8|16|32|64)$")


def _args(text: str) -> list[str]:
    """The top-level comma-separated arguments of a type's parentheses."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
    out.append(text[start:].strip())
    return out


def _utc(value: Any) -> bool:
    return isinstance(value, datetime) and value.utcoffset() == timedelta(0)


def fits(value: Any, ch_type: str) -> bool:
    """Whether clickhouse-connect writes ``value`` into a ``ch_type`` column unchanged."""
    name, _, rest = ch_type.partition("(")
    args = _args(rest[:-1]) if rest else []
    if name == "LowCardinality":
        return fits(value, args[0])
    if name == "Nullable":
        return value is None or fits(value, args[0])
    if name == "String":
        return isinstance(value, str | bytes)
    if name == "Bool":
        return isinstance(value, bool)
    if m := _INT.match(name):
        bits = int(m.group(2))
        low, high = (0, 2**bits) if m.group(1) else (-(2 ** (bits - 1)), 2 ** (bits - 1))
        return isinstance(value, int) and not isinstance(value, bool) and low <= value < high
    if name == "Decimal":
        precision, scale = int(args[0]), int(args[1])
        if not isinstance(value, Decimal) or not value.is_finite():
            return False
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        return exponent >= -scale and abs(value) < Decimal(10) ** (precision - scale)
    if name == "Date":
        return isinstance(value, date) and not isinstance(value, datetime)
    if name == "DateTime":  # whole seconds: a fraction would be cut off
        return _utc(value) and value.microsecond == 0
    if name == "DateTime64":
        step = 10 ** (6 - min(int(args[0]), 6))
        return _utc(value) and value.microsecond % step == 0
    if name in ("Enum8", "Enum16"):
        labels = {re.match(r"'(.*)' = -?\d+$", a).group(1) for a in args}  # type: ignore[union-attr]
        return value in labels
    if name == "Map":
        return isinstance(value, dict) and all(
            fits(k, args[0]) and fits(v, args[1]) for k, v in value.items()
        )
    if name == "Array":
        return isinstance(value, list | tuple) and all(fits(v, args[0]) for v in value)
    raise AssertionError(f"no rule for the ClickHouse type {ch_type!r}: add one")


def test_the_type_rules_refuse_what_a_column_cannot_hold() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert fits(Decimal("99.9371"), "Decimal(9, 4)")
    assert not fits(Decimal("99.93715"), "Decimal(9, 4)")
    assert not fits(Decimal("123456"), "Decimal(9, 4)")
    assert not fits("99.9", "Decimal(9, 4)")
    assert not fits(True, "UInt32")
    assert not fits(-1, "UInt64")
    assert fits(-1, "Nullable(Int32)")
    assert fits(now, "DateTime('UTC')")
    assert not fits(now.replace(microsecond=5), "DateTime('UTC')")
    assert fits(now.replace(microsecond=5), "DateTime64(6, 'UTC')")
    assert not fits(now.replace(tzinfo=None), "DateTime64(3, 'UTC')")
    assert not fits(now, "Date")
    assert fits(now.date(), "Date")
    assert fits("up", "Enum8('up' = 0, 'no_data' = 3)")
    assert not fits("down", "Enum8('up' = 0)")
    assert fits({"aws": 3}, "Map(LowCardinality(String), UInt32)")
    assert not fits({"aws": "3"}, "Map(LowCardinality(String), UInt32)")
    assert fits(None, "LowCardinality(Nullable(String))")
    assert not fits(None, "String")


def sample_rows(replay: ReplayResult) -> Iterator[tuple[str, rw.Row]]:
    """Rows of every mapping: the replay's outputs, raw events and dead letters."""
    for table, rows in rw.rows_for_outputs(replay.outputs).items():
        for row in rows:
            yield table, row
    at = datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC)
    sources: list[tuple[bytes, dict[str, Any]]] = [
        (b'{"type":"probe","event_id":"p-1"}', {"topic": "probes", "partition": 2, "offset": 7}),
        (b'{"type":"incident","event_id":"i-1"}', {"file": "march.jsonl", "line": 3}),
        (b"not json", {"other": "where"}),
    ]
    for raw, source in sources:
        yield tables.RAW_EVENTS, ln.raw_event_row(ln.RawEvent(raw, at, source))
    for dead in replay.dead_letters:
        yield tables.DEAD_LETTERS, ln.dead_letter_row(dead.to_json())
    from_kafka = {**replay.dead_letters[0].to_json(), "source": {"topic": "t", "partition": 0}}
    yield tables.DEAD_LETTERS, ln.dead_letter_row(from_kafka)


def describe(store: ClickHouseStore, table: str) -> dict[str, tuple[str, str]]:
    """Column -> (type, default kind) from ``DESCRIBE TABLE``."""
    res = store.client.query(f"DESCRIBE TABLE {store.db}.{table}")
    name, type_, default = (res.column_names.index(c) for c in ("name", "type", "default_type"))
    return {str(r[name]): (str(r[type_]), str(r[default])) for r in res.result_rows}


def test_every_mapping_fits_the_migrated_tables(
    store: ClickHouseStore, replay: ReplayResult
) -> None:
    migrated = {
        str(n)
        for (n,) in store.client.query(
            "SELECT name FROM system.tables WHERE database = {d:String} "
            "AND engine != 'View' AND name != 'schema_migrations'",
            parameters={"d": store.db},
        ).result_rows
    }
    assert migrated == set(tables.COLUMNS), "every table has one mapping, every mapping a table"
    described = {t: describe(store, t) for t in migrated}
    for table, columns in tables.COLUMNS.items():
        have = described[table]
        assert set(columns) <= set(have), f"{table}: no such column"
        unwritten = {c for c, (_, default) in have.items() if not default} - set(columns)
        assert not unwritten, f"{table}: columns without a default that no mapping writes"
    mapped: dict[str, int] = {}
    for table, row in sample_rows(replay):
        columns = tables.COLUMNS[table]
        assert len(row) == len(columns), table
        for column, value in zip(columns, row, strict=True):
            ch_type = described[table][column][0]
            assert fits(value, ch_type), f"{table}.{column} {ch_type}: {value!r}"
        mapped[table] = mapped.get(table, 0) + 1
    assert set(mapped) == set(tables.COLUMNS), "every mapping was exercised"
