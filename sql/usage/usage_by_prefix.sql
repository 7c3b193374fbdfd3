MODEL (
  name usage_by_prefix,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, key_prefix),
  audits (not_null (dt, bucket, key_prefix, requests, bytes_sent, errors), row_count_min (1)),
  parameters (prefix_depth = 1),
  description 'Requests, bytes and errors per day, bucket and key prefix (the first prefix_depth path segments of the key).',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    key_prefix = 'The first path segments of the key with a trailing slash; the key itself if it has fewer, (no key) for bucket requests.',
    requests = 'Number of requests.',
    bytes_sent = 'Response bytes sent.',
    errors = 'Requests answered with an HTTP status of 400 or more.'
  )
);
SELECT dt, bucket,
       CASE WHEN len(string_split(key, '/')) > $prefix_depth
            THEN array_to_string(string_split(key, '/')[1:$prefix_depth], '/') || '/'
            ELSE coalesce(key, '(no key)') END AS key_prefix,
       count(*) AS requests,
       CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS bytes_sent,
       count(*) FILTER (WHERE is_error) AS errors
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
