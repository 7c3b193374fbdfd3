-- usage_daily: per day, bucket and operation: volume, errors, bytes, distinct clients and
-- latency percentiles (total time: in flight at S3; turnaround: S3's own processing).
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
ORDER BY dt, bucket, operation
