-- Audit trail of every valid event as received, with where it came from.
-- The lineage key makes a redelivered Kafka message (same topic, partition,
-- offset) or a re-read file line collapse to one row; received_at is the
-- Kafka message timestamp (stable across redeliveries) or the reader's clock.
CREATE TABLE IF NOT EXISTS {{db}}.raw_events {{on_cluster}}
(
    event_id        String,
    type            LowCardinality(String),
    raw             String CODEC(ZSTD(3)),
    received_at     DateTime64(3, 'UTC'),
    source_kind     LowCardinality(String),
    kafka_topic     LowCardinality(Nullable(String)),
    kafka_partition Nullable(Int32),
    kafka_offset    Nullable(Int64),
    file            LowCardinality(Nullable(String)),
    line            Nullable(UInt64),
    lineage         String
)
ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toYYYYMM(received_at)
ORDER BY (type, event_id, lineage)
{{ttl received_at}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(event_id)}}
-- down
DROP TABLE IF EXISTS {{db}}.raw_events {{on_cluster}} SYNC
