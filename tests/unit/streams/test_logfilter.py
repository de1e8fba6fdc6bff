"""The repeat filter: one line per kind of Kafka-client complaint and window, with the count."""

from __future__ import annotations

import logging

from streams.logfilter import RepeatFilter


def _record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_are_dropped_within_the_window_and_counted_after_it() -> None:
    now = [0.0]
    f = RepeatFilter(window=30.0, clock=lambda: now[0])
    passed = []
    for i in range(190):  # one second of an outage, each attempt naming another node
        rec = _record("aiokafka.conn", "Unable connect to node with id %s", i)
        if f.filter(rec):
            passed.append(rec.getMessage())
    assert passed == ["Unable connect to node with id 0"]
    now[0] = 31.0
    rec = _record("aiokafka.conn", "Unable connect to node with id %s", 7)
    assert f.filter(rec)
    assert rec.getMessage() == (
        "Unable connect to node with id 7 (189 more like this in the last 31 s were not logged)"
    )
    now[0] = 70.0
    rec = _record("aiokafka.conn", "Unable connect to node with id %s", 8)
    assert f.filter(rec)
    assert rec.getMessage() == "Unable connect to node with id 8"


def test_other_kinds_info_and_the_project_own_lines_always_pass() -> None:
    f = RepeatFilter(window=30.0, clock=lambda: 0.0)
    assert f.filter(_record("kafka.conn", "a"))
    assert not f.filter(_record("kafka.conn", "a"))
    assert f.filter(_record("kafka.conn", "b"))  # another template
    assert f.filter(_record("kafka.client", "a"))  # another logger
    assert f.filter(_record("kafka.conn", "a", level=logging.INFO))
    assert f.filter(_record("kafka.conn", "a", level=logging.INFO))
    for _ in range(3):
        assert f.filter(_record("streams.probeloop", "the probe loop failed"))
