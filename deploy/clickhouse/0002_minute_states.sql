-- The state of each service minute that was not plainly up, from the latest
-- service-month snapshot. A snapshot writes only its non-up minutes, all with
-- the snapshot's version; a minute that later turns up keeps its old row, so
-- readers take only rows whose version equals the service month's latest
-- version (service_months.version), as ClickHouseStore.minute_state_counts does.
CREATE TABLE IF NOT EXISTS {{db}}.minute_states {{on_cluster}}
(
    service  LowCardinality(String),
    minute   DateTime('UTC'),
    state    Enum8('up' = 0, 'counted_down' = 1, 'excluded_down' = 2, 'no_data' = 3),
    cause    LowCardinality(String),
    version  UInt64
)
ENGINE = {{engine ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(minute)
ORDER BY (service, minute)
{{ttl minute}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(service)}}
-- down
DROP TABLE IF EXISTS {{db}}.minute_states {{on_cluster}} SYNC
