"""The worker's Faust producer settings, as aiokafka receives them."""

from __future__ import annotations

from streams import topics
from streams.app import Worker, WorkerConfig


def test_the_worker_producer_packs_outputs_into_large_batches() -> None:
    # aiokafka's default batch (16 KiB) holds four statements, and a produce
    # request carries one batch per partition: a few hundred statements took a
    # broker round trip per two dozen of them
    worker = Worker(WorkerConfig(bootstrap="localhost:9092", web_enabled=False))
    producer = worker.app.producer
    assert producer.max_batch_size == topics.PRODUCER_BATCH_BYTES
    # within the broker's default message.max.bytes, and above the default
    assert 16384 < topics.PRODUCER_BATCH_BYTES <= 1_048_588
