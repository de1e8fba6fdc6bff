-- Billing tables. Every revision is kept: (key, revision) is the sorting key,
-- so only recomputations of the same revision (a provisional month updated
-- as events arrive, a retried write) replace each other, by version.
-- Money is Decimal(18, 4): exact fixed point, summable in SQL, wide enough
-- for any charge and for currencies with three minor digits; the statement
-- JSON keeps the exact decimal string the core produced.
CREATE TABLE IF NOT EXISTS {{db}}.service_months {{on_cluster}}
(
    service                  LowCardinality(String),
    month                    Date,
    revision                 UInt32,
    status                   LowCardinality(String),
    timezone                 LowCardinality(String),
    minutes_in_month         UInt32,
    down_minutes             UInt32,
    counted_downtime_minutes UInt32,
    excluded_minutes         Map(LowCardinality(String), UInt32),
    no_data_minutes          UInt32,
    uptime_percent           Decimal(9, 4),
    meets_target             Bool,
    credit_percent           Decimal(9, 4),
    computed_at              DateTime64(3, 'UTC'),
    version                  UInt64,
    record                   String CODEC(ZSTD(3))
)
ENGINE = {{engine ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(month)
ORDER BY (service, month, revision)
{{ttl month}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(service)}};

CREATE TABLE IF NOT EXISTS {{db}}.contract_months {{on_cluster}}
(
    contract_id              String,
    client_id                LowCardinality(String),
    month                    Date,
    revision                 UInt32,
    status                   LowCardinality(String),
    contract_revision        UInt32,
    timezone                 LowCardinality(String),
    period_start             DateTime('UTC'),
    period_end               DateTime('UTC'),
    minutes_in_month         UInt32,
    down_minutes             UInt32,
    counted_downtime_minutes UInt32,
    excluded_minutes         Map(LowCardinality(String), UInt32),
    no_data_minutes          UInt32,
    uptime_percent           Decimal(9, 4),
    meets_target             Bool,
    credit_percent           Decimal(9, 4),
    credit_basis             LowCardinality(String),
    affected_services        Array(LowCardinality(String)),
    credit_amount            Decimal(18, 4),
    currency                 LowCardinality(String),
    computed_at              DateTime64(3, 'UTC'),
    version                  UInt64,
    statement                String CODEC(ZSTD(3))
)
ENGINE = {{engine ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(month)
ORDER BY (contract_id, month, revision)
{{ttl month}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(contract_id)}};

CREATE TABLE IF NOT EXISTS {{db}}.claim_decisions {{on_cluster}}
(
    claim_id         String,
    contract_id      String,
    client_id        LowCardinality(String),
    submitted_at     DateTime('UTC'),
    decision         LowCardinality(String),
    reason           LowCardinality(Nullable(String)),
    minutes_accepted UInt32,
    credit_total     Nullable(Decimal(18, 4)),
    currency         LowCardinality(Nullable(String)),
    computed_at      DateTime64(3, 'UTC'),
    version          UInt64,
    decision_json    String CODEC(ZSTD(3))
)
ENGINE = {{engine ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(submitted_at)
ORDER BY (contract_id, claim_id)
{{ttl submitted_at}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(contract_id)}}
-- down
DROP TABLE IF EXISTS {{db}}.claim_decisions {{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{db}}.contract_months {{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{db}}.service_months {{on_cluster}} SYNC;
