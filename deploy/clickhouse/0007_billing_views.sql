-- Billing views: what finance and the billing dashboard read, one row per
-- key with the latest revision only (version orders revisions first, then
-- recomputations), so a report never sums two revisions of one month.
-- Columns are named as the JSON fields of the outputs; the fields the
-- tables have no column for (coverage, elapsed and remaining minutes,
-- interval verdicts) come from the stored JSON, as the core wrote them.
CREATE VIEW IF NOT EXISTS {{db}}.billing_contract_months {{on_cluster}} AS
SELECT
    contract_id,
    month,
    argMax(client_id, version) AS client_id,
    argMax(revision, version) AS revision,
    argMax(status, version) AS status,
    argMax(timezone, version) AS timezone,
    argMax(period_start, version) AS period_start,
    argMax(period_end, version) AS period_end,
    argMax(minutes_in_month, version) AS minutes_in_month,
    argMax(down_minutes, version) AS down_minutes,
    argMax(counted_downtime_minutes, version) AS counted_downtime_minutes,
    argMax(no_data_minutes, version) AS no_data_minutes,
    argMax(uptime_percent, version) AS uptime_percent,
    argMax(meets_target, version) AS meets_target,
    argMax(credit_percent, version) AS credit_percent,
    argMax(credit_basis, version) AS credit_basis,
    argMax(credit_amount, version) AS credit_amount,
    argMax(currency, version) AS currency,
    argMax(computed_at, version) AS computed_at,
    toUInt32(JSONExtractUInt(argMax(statement, version), 'elapsed_minutes')) AS elapsed_minutes,
    toUInt32(JSONExtractUInt(argMax(statement, version), 'remaining_minutes')) AS remaining_minutes,
    toUInt32(JSONExtractUInt(argMax(statement, version), 'data_minutes')) AS data_minutes,
    toDecimal64OrNull(JSONExtractString(argMax(statement, version), 'coverage_percent'), 4)
        AS coverage_percent
FROM {{db}}.contract_months
GROUP BY contract_id, month;

CREATE VIEW IF NOT EXISTS {{db}}.billing_claims {{on_cluster}} AS
SELECT
    contract_id,
    claim_id,
    argMax(client_id, version) AS client_id,
    argMax(submitted_at, version) AS submitted_at,
    argMax(decision, version) AS decision,
    argMax(reason, version) AS reason,
    argMax(minutes_accepted, version) AS minutes_accepted,
    argMax(credit_total, version) AS credit_total,
    argMax(currency, version) AS currency,
    argMax(computed_at, version) AS computed_at,
    toUInt32(length(arrayFilter(
        i -> JSONExtractString(i, 'verdict') = 'accepted',
        JSONExtractArrayRaw(argMax(decision_json, version), 'intervals')
    ))) AS intervals_accepted,
    toUInt32(length(arrayFilter(
        i -> JSONExtractString(i, 'verdict') = 'rejected',
        JSONExtractArrayRaw(argMax(decision_json, version), 'intervals')
    ))) AS intervals_rejected
FROM {{db}}.claim_decisions
GROUP BY contract_id, claim_id;
-- down
DROP VIEW IF EXISTS {{db}}.billing_claims {{on_cluster}} SYNC;
DROP VIEW IF EXISTS {{db}}.billing_contract_months {{on_cluster}} SYNC;
