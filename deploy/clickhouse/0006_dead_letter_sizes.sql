-- A dead letter always fits a Kafka message (SPEC section 10): for an input
-- larger than 256 KiB, raw keeps only its first 256 KiB. raw_size (bytes) and
-- raw_sha256 (hex) describe the whole input and raw_truncated says whether
-- raw is less than it; rows written before this migration hold their whole
-- input, which the defaults describe.
ALTER TABLE {{db}}.dead_letters {{on_cluster}}
    ADD COLUMN IF NOT EXISTS raw_size UInt64 DEFAULT length(raw),
    ADD COLUMN IF NOT EXISTS raw_truncated Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS raw_sha256 String DEFAULT lower(hex(SHA256(raw)));
-- down
ALTER TABLE {{db}}.dead_letters {{on_cluster}}
    DROP COLUMN IF EXISTS raw_sha256,
    DROP COLUMN IF EXISTS raw_truncated,
    DROP COLUMN IF EXISTS raw_size;
