-- usage_by_prefix: requests, bytes and errors per day, bucket and key prefix (the first
-- $prefix_depth path segments of the key).
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
ORDER BY dt, bucket, key_prefix
