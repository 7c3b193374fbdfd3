MODEL (
  name usage_status_codes,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, http_status, error_code),
  nullable (http_status, error_code),
  audits (not_null (dt, bucket, requests), row_count_min (1)),
  description 'The distribution of HTTP status and S3 error codes per day and bucket.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    http_status = 'HTTP status (null for records without one, such as lifecycle).',
    error_code = 'S3 error code (null on success).',
    requests = 'Number of requests.'
  )
);
SELECT dt, bucket, http_status, error_code, count(*) AS requests
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
