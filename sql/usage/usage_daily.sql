MODEL (
  name usage_daily,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  engines (duckdb, spark),
  grain (dt, bucket, operation),
  audits (
    not_null (dt, bucket, operation, requests, errors_4xx, errors_5xx, bytes_sent,
              object_bytes, distinct_requesters, distinct_remote_ips),
    row_count_min (1)
  ),
  description 'Requests, 4xx, 5xx, bytes sent, object bytes, distinct requesters and IPs, and p50/p95/p99 of total and turn-around time, per day, bucket and operation.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    operation = 'S3 operation, e.g. REST.GET.OBJECT.',
    requests = 'Number of requests.',
    errors_4xx = 'Requests answered 4xx.',
    errors_5xx = 'Requests answered 5xx.',
    bytes_sent = 'Response bytes sent.',
    object_bytes = 'Sum of the sizes of the objects the requests touched.',
    distinct_requesters = 'Distinct requesters (anonymous not counted).',
    distinct_remote_ips = 'Distinct remote IP addresses.',
    total_time_p50_ms = 'Median total time in milliseconds (in flight at S3).',
    total_time_p95_ms = '95th percentile of total time in milliseconds.',
    total_time_p99_ms = '99th percentile of total time in milliseconds.',
    turnaround_p50_ms = 'Median turn-around time in milliseconds (S3''s own processing).',
    turnaround_p95_ms = '95th percentile of turn-around time in milliseconds.',
    turnaround_p99_ms = '99th percentile of turn-around time in milliseconds.'
  )
);
SELECT
    dt, bucket, operation,
    count(*) AS requests,
    count(*) FILTER (WHERE http_status BETWEEN 400 AND 499) AS errors_4xx,
    count(*) FILTER (WHERE http_status >= 500) AS errors_5xx,
    CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS bytes_sent,
    CAST(coalesce(sum(object_size), 0) AS BIGINT) AS object_bytes,
    count(DISTINCT requester) AS distinct_requesters,
    count(DISTINCT remote_ip) AS distinct_remote_ips,
    quantile_cont(total_time_ms, 0.50) AS total_time_p50_ms,
    quantile_cont(total_time_ms, 0.95) AS total_time_p95_ms,
    quantile_cont(total_time_ms, 0.99) AS total_time_p99_ms,
    quantile_cont(turnaround_time_ms, 0.50) AS turnaround_p50_ms,
    quantile_cont(turnaround_time_ms, 0.95) AS turnaround_p95_ms,
    quantile_cont(turnaround_time_ms, 0.99) AS turnaround_p99_ms
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
