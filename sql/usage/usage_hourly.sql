MODEL (
  name usage_hourly,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, hour),
  audits (not_null (dt, bucket, hour, requests, errors, bytes_sent), row_count_min (1)),
  description 'Records per day, bucket and UTC hour, AWS''s own included: the hours a bucket logs, which log delivery gaps are judged against, and the day''s rhythm.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    hour = 'UTC hour of the request, 0 to 23.',
    requests = 'Records (requests, and AWS''s own records).',
    errors = 'Records answered 400 or above.',
    bytes_sent = 'Response bytes sent.'
  )
);
SELECT dt, bucket, hour(request_time) AS hour, count(*) AS requests,
       count(*) FILTER (WHERE is_error) AS errors,
       CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS bytes_sent
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
