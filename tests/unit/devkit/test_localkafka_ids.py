"""Cluster ids for the local broker never look like a command-line option."""

from __future__ import annotations

import uuid

import pytest

from devkit import localkafka


def test_a_cluster_id_starting_with_a_dash_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 0xF8 = 0b11111000: the first six bits are 62, which URL-safe base64 writes as "-".
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    cluster_id = localkafka._new_cluster_id()
    assert cluster_id == "AQEBAQEBAQEBAQEBAQEBAQ"
    assert len(cluster_id) == 22


def test_cluster_ids_are_kafka_shaped() -> None:
    for _ in range(2000):
        cluster_id = localkafka._new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
