MODEL (
  name transfer_out_daily,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  engines (duckdb, spark),
  grain (dt, bucket_owner),
  nullable (bucket_owner),
  audits (not_null (dt, internet_bytes), row_count_min (1)),
  description 'Billed bytes sent to the internet per day and bucket owner (the account S3 bills): the summary the month''s transfer-out tiers are counted on, so a day''s bill reads the month''s summaries, not its records.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket_owner = 'Canonical user ID of the source buckets'' owner.',
    internet_bytes = 'Billed bytes sent to clients outside AWS (an estimate).'
  )
);
SELECT dt, bucket_owner,
       CAST(coalesce(sum(bytes_sent) FILTER (WHERE billed AND to_internet), 0) AS BIGINT)
           AS internet_bytes
FROM billed_requests($start_date, $end_date)
GROUP BY dt, bucket_owner
