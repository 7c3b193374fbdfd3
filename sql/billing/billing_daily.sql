MODEL (
  name billing_daily,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  engines (duckdb, spark),
  grain (dt, bucket, requester, key_prefix),
  audits (
    -- a null cost is a day no price in the prices seed is in effect for
    not_null (dt, bucket, requester, key_prefix, tier1_requests, tier2_requests,
              free_requests, system_records, unbilled_requests, request_cost_usd,
              internet_bytes, transfer_out_cost_usd),
    row_count_min (1)
  ),
  window (month),
  description 'Estimated request and data-transfer-out cost per day, bucket, requester (with its IAM role) and key prefix, so any of them sums up to a bill, at the prices in effect each day (the prices seed).',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    requester = 'Requester ARN or canonical ID; anonymous for unauthenticated requests.',
    role_name = 'IAM role of an assumed-role requester (null for others).',
    key_prefix = 'The key''s first path segment with its slash; (no key) for bucket requests.',
    tier1_requests = 'Billed Tier 1 requests (PUT, COPY, POST, LIST).',
    tier2_requests = 'Billed Tier 2 requests (GET, HEAD and others).',
    free_requests = 'DELETE and CANCEL requests (free).',
    system_records = 'Records S3 writes that are not billed requests (lifecycle, copy source side, per-key lines of a multi-object delete).',
    unbilled_requests = 'Requests S3 does not bill: 5xx, and 403 AccessDenied from outside the owner''s account since 2024-05-13.',
    request_cost_usd = 'Estimated request cost in USD (prices in effect that day).',
    bytes_sent = 'Response bytes sent.',
    internet_bytes = 'Billed bytes sent to clients outside AWS (an estimate).',
    transfer_out_cost_usd = 'Estimated data transfer out cost in USD: monthly tiers after the first 100 GB, shared by bytes.'
  )
);
-- The billing rules are billed_requests'. The first 100 GB of each month are free, then
-- tiers apply to the month's running total per bucket owner (from transfer_out_daily: the
-- earlier days' summaries, not their records), and each day's cost is shared among the
-- day's requesters in proportion to their bytes.
WITH per_requester AS (
    SELECT
        dt, bucket, bucket_owner, requester, role_name, key_prefix,
        count(*) FILTER (WHERE billed AND request_tier = 'tier1') AS tier1_requests,
        count(*) FILTER (WHERE billed AND request_tier = 'tier2') AS tier2_requests,
        count(*) FILTER (WHERE billed AND request_tier = 'free') AS free_requests,
        count(*) FILTER (WHERE request_tier = 'system') AS system_records,
        count(*) FILTER (WHERE NOT billed AND request_tier <> 'system') AS unbilled_requests,
        CAST(sum(bytes_sent) AS BIGINT) AS bytes_sent,
        CAST(sum(bytes_sent) FILTER (WHERE billed AND to_internet) AS BIGINT) AS internet_bytes
    FROM billed_requests($start_date, $end_date)
    GROUP BY ALL
),
-- The month's days before the run from their summaries, the run's own from its rows.
owner_bytes AS (
    SELECT dt, bucket_owner, internet_bytes FROM transfer_out_daily
    WHERE dt >= strftime(date_trunc('month', CAST($start_date AS DATE)), '%Y-%m-%d')
      AND dt < $start_date
    UNION ALL
    SELECT dt, bucket_owner, CAST(sum(coalesce(internet_bytes, 0)) AS BIGINT)
    FROM per_requester GROUP BY dt, bucket_owner
),
owner_days AS (
    SELECT
        dt, bucket_owner, internet_bytes / 1073741824.0 AS day_gb,
        coalesce(sum(internet_bytes) OVER (
            PARTITION BY bucket_owner, substr(dt, 1, 7) ORDER BY dt
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) / 1073741824.0 AS before_gb
    FROM owner_bytes
),
-- Each owner's day against the transfer tiers in effect that day (a join, not a
-- correlated subquery: Spark refuses outer columns inside an aggregate). owner_days has
-- one row per (dt, bucket_owner), so grouping by its columns keeps one row per day.
owner_cost AS (
    SELECT
        d.dt, d.bucket_owner, d.day_gb,
        coalesce(sum(p.usd * (greatest(0, least(d.before_gb + d.day_gb,
                                                coalesce(p.to_gb, 1e18)) - p.from_gb)
                             - greatest(0, least(d.before_gb,
                                                 coalesce(p.to_gb, 1e18)) - p.from_gb))), 0)
            AS transfer_cost_usd
    FROM owner_days AS d
    LEFT JOIN prices AS p ON p.item = 'transfer_out'
        AND d.dt BETWEEN p.effective_from AND coalesce(p.effective_to, '9999-12-31')
    GROUP BY d.dt, d.bucket_owner, d.day_gb, d.before_gb
)
SELECT
    r.dt, r.bucket, r.requester, r.role_name, r.key_prefix,
    r.tier1_requests, r.tier2_requests, r.free_requests, r.system_records, r.unbilled_requests,
    round(r.tier1_requests * t1.usd / 1000 + r.tier2_requests * t2.usd / 1000, 10)
        AS request_cost_usd,
    r.bytes_sent,
    coalesce(r.internet_bytes, 0) AS internet_bytes,
    round(CASE WHEN c.day_gb > 0
               THEN c.transfer_cost_usd * coalesce(r.internet_bytes, 0) / 1073741824.0 / c.day_gb
               ELSE 0 END, 10) AS transfer_out_cost_usd
FROM per_requester AS r
JOIN owner_cost AS c ON c.dt = r.dt AND c.bucket_owner IS NOT DISTINCT FROM r.bucket_owner
LEFT JOIN prices AS t1 ON t1.item = 'tier1'
    AND r.dt BETWEEN t1.effective_from AND coalesce(t1.effective_to, '9999-12-31')
LEFT JOIN prices AS t2 ON t2.item = 'tier2'
    AND r.dt BETWEEN t2.effective_from AND coalesce(t2.effective_to, '9999-12-31')
WHERE r.dt BETWEEN $start_date AND $end_date
