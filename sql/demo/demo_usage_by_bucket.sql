MODEL (
  name demo_usage_by_bucket,
  kind QUERY,
  description 'Usage by bucket',
  column_descriptions (
    bucket = 'Source bucket.',
    requests = 'Number of requests.',
    errors_4xx = 'Requests answered 4xx.',
    errors_5xx = 'Requests answered 5xx.',
    bytes_sent = 'Response bytes sent.',
    worst_p95_ms = 'The highest daily 95th percentile of total time, in milliseconds.'
  )
);
SELECT bucket, sum(requests) AS requests, sum(errors_4xx) AS errors_4xx,
       sum(errors_5xx) AS errors_5xx, sum(bytes_sent) AS bytes_sent,
       round(max(total_time_p95_ms), 1) AS worst_p95_ms
FROM usage_daily
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY bucket
ORDER BY requests DESC
