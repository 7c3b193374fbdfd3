MODEL (
  name usage_top_n,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, dimension, rank),
  audits (
    not_null (dt, bucket, dimension, rank, value, requests, errors),
    accepted_values (dimension, ('key', 'requester', 'remote_ip', 'user_agent')),
    row_count_min (1)
  ),
  parameters (top_n = 10),
  description 'The busiest keys, requesters, remote IPs and user agents per day and bucket (top top_n of each by requests), with their bytes sent and errors.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    dimension = 'What is ranked: key, requester, remote_ip or user_agent.',
    value = 'The key, requester (anonymous for unauthenticated requests), remote IP or user agent.',
    requests = 'Number of requests.',
    bytes_sent = 'Response bytes sent.',
    errors = 'Requests answered with an HTTP status of 400 or more.',
    rank = '1 for the busiest.'
  )
);
WITH ranked AS (
    SELECT dt, bucket, dimension, value, requests, bytes_sent, errors,
           row_number() OVER (PARTITION BY dt, bucket, dimension
                              ORDER BY requests DESC, bytes_sent DESC, value) AS rank
    FROM (
        SELECT dt, bucket, 'key' AS dimension, key AS value, count(*) AS requests,
               CAST(sum(bytes_sent) AS BIGINT) AS bytes_sent, count(*) FILTER (WHERE is_error) AS errors
        FROM access_logs WHERE dt BETWEEN $start_date AND $end_date AND key IS NOT NULL
        GROUP BY ALL
        UNION ALL
        SELECT dt, bucket, 'requester', coalesce(requester, 'anonymous'), count(*),
               sum(bytes_sent), count(*) FILTER (WHERE is_error)
        FROM access_logs WHERE dt BETWEEN $start_date AND $end_date GROUP BY ALL
        UNION ALL
        SELECT dt, bucket, 'remote_ip', remote_ip, count(*), sum(bytes_sent),
               count(*) FILTER (WHERE is_error)
        FROM access_logs WHERE dt BETWEEN $start_date AND $end_date AND remote_ip IS NOT NULL
        GROUP BY ALL
        UNION ALL
        SELECT dt, bucket, 'user_agent', user_agent, count(*), sum(bytes_sent),
               count(*) FILTER (WHERE is_error)
        FROM access_logs WHERE dt BETWEEN $start_date AND $end_date AND user_agent IS NOT NULL
        GROUP BY ALL
    )
)
SELECT * FROM ranked WHERE rank <= $top_n
