-- Rejected input: the raw bytes (String holds any bytes), why, and where from.
-- dead_letter_id hashes the bytes and the source, so the same bad line read
-- twice in a month is one row after merges; count with uniqExact(dead_letter_id).
CREATE TABLE IF NOT EXISTS {{db}}.dead_letters {{on_cluster}}
(
    dead_letter_id  String,
    reason          LowCardinality(String),
    detail          String,
    raw             String CODEC(ZSTD(3)),
    source_kind     LowCardinality(String),
    source          String,
    kafka_topic     LowCardinality(Nullable(String)),
    kafka_partition Nullable(Int32),
    kafka_offset    Nullable(Int64),
    file            LowCardinality(Nullable(String)),
    line            Nullable(UInt64),
    recorded_at     DateTime('UTC') DEFAULT now()
)
ENGINE = {{engine ReplacingMergeTree}}
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (reason, dead_letter_id)
{{ttl recorded_at}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(dead_letter_id)}}
-- down
DROP TABLE IF EXISTS {{db}}.dead_letters {{on_cluster}} SYNC
