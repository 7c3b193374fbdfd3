MODEL (
  name daily_by_bucket,
  kind QUERY,
  description 'Requests, errors and bytes sent per day and bucket, for the report''s charts.',
  column_descriptions (
    dt = 'UTC day.',
    bucket = 'Source bucket.',
    requests = 'Number of requests.',
    errors = 'Requests answered with an HTTP status of 400 or more.',
    bytes_sent = 'Response bytes sent.'
  )
);
SELECT dt, bucket, count(*) AS requests, count(*) FILTER (WHERE is_error) AS errors,
       CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS bytes_sent
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
ORDER BY dt, bucket
