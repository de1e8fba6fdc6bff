-- Support response times (SPEC section 8): ticket verdicts, monthly
-- compliance and ticket alerts, each the latest computation per key.
-- Instants keep the microseconds a ticket event may carry (DateTime64(6));
-- business minutes are the exact two-decimal text of the output as
-- Decimal(18, 2). version is computed_at in epoch milliseconds: the later
-- evaluation wins. Every table is partitioned by the month of the ticket's
-- (or the compliance row's) opening, so all the rows of a key stay in one
-- partition; readers still take argMax(..., version) per key, which is right
-- across partitions and before merges. The JSON column is the output as
-- published, what reads return.
CREATE TABLE IF NOT EXISTS {{db}}.ticket_verdicts {{on_cluster}}
(
    ticket_id                 String,
    client_id                 LowCardinality(String),
    severity                  LowCardinality(String),
    opened_at                 DateTime64(6, 'UTC'),
    deadline                  DateTime64(6, 'UTC'),
    at_risk_at                DateTime64(6, 'UTC'),
    responded_at              Nullable(DateTime64(6, 'UTC')),
    status                    LowCardinality(String),
    policy                    LowCardinality(String),
    response_business_minutes Nullable(Decimal(18, 2)),
    computed_at               DateTime64(3, 'UTC'),
    version                   UInt64,
    verdict                   String CODEC(ZSTD(3))
)
ENGINE = {{engine ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(opened_at)
ORDER BY ticket_id
{{ttl opened_at}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(ticket_id)}};

-- One row per client, month (of opened_at in the calendar's timezone) and
-- severity; every severity of a client-month is present (zeros included),
-- so a ticket moving to another severity empties its old row.
CREATE TABLE IF NOT EXISTS {{db}}.support_months {{on_cluster}}
(
    client_id            LowCardinality(String),
    month                Date,
    severity             LowCardinality(String),
    met                  UInt32,
    breached             UInt32,
    open                 UInt32,
    at_risk              UInt32,
    responded            UInt32,
    p50_business_minutes Nullable(Decimal(18, 2)),
    p90_business_minutes Nullable(Decimal(18, 2)),
    p95_business_minutes Nullable(Decimal(18, 2)),
    computed_at          DateTime64(3, 'UTC'),
    version              UInt64,
    record               String CODEC(ZSTD(3))
)
ENGINE = {{engine ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(month)
ORDER BY (client_id, month, severity)
{{ttl month}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(client_id)}};

-- One row per ticket and alert ('at_risk', 'breached'): the instant the
-- moment passed without a first response. Keyed like the Kafka output
-- (ticket_id|alert), sharded with the ticket's verdict.
CREATE TABLE IF NOT EXISTS {{db}}.ticket_alerts {{on_cluster}}
(
    ticket_id   String,
    alert       Enum8('at_risk' = 1, 'breached' = 2),
    client_id   LowCardinality(String),
    severity    LowCardinality(String),
    policy      LowCardinality(String),
    opened_at   DateTime64(6, 'UTC'),
    deadline    DateTime64(6, 'UTC'),
    alert_at    DateTime64(6, 'UTC'),
    computed_at DateTime64(3, 'UTC'),
    version     UInt64,
    alert_json  String CODEC(ZSTD(3))
)
ENGINE = {{engine ReplacingMergeTree(version)}}
PARTITION BY toYYYYMM(opened_at)
ORDER BY (ticket_id, alert)
{{ttl opened_at}}
SETTINGS non_replicated_deduplication_window = {{dedup_window}}
{{shard_by cityHash64(ticket_id)}}
-- down
DROP TABLE IF EXISTS {{db}}.ticket_alerts {{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{db}}.support_months {{on_cluster}} SYNC;
DROP TABLE IF EXISTS {{db}}.ticket_verdicts {{on_cluster}} SYNC;
