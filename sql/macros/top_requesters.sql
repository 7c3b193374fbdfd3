MODEL (
  name top_requesters,
  kind MACRO,
  description 'top_requesters(bucket, from_dt, to_dt): the 20 busiest requesters of a bucket over a range of days, with errors and bytes sent. Example: SELECT * FROM top_requesters(''shop-assets'', ''2026-11-16'', ''2026-11-22'').'
);
CREATE OR REPLACE MACRO top_requesters(bucket_name, from_dt, to_dt) AS TABLE
    SELECT coalesce(requester, 'anonymous') AS requester, count(*) AS requests,
           count(*) FILTER (WHERE is_error) AS errors, sum(bytes_sent) AS bytes_sent
    FROM access_logs
    WHERE bucket = bucket_name AND dt BETWEEN from_dt AND to_dt
    GROUP BY ALL ORDER BY requests DESC LIMIT 20;
