MODEL (
  name security_activity,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, principal, network),
  nullable (network),
  audits (not_null (dt, bucket, principal, requests, granted, denied, first_seen, last_seen)),
  description 'What each principal did on each bucket each day, per network it came from: the summaries security detections take their baselines from (28 days of these, never the raw rows), computed once per day from that day''s records. AWS''s own traffic is left out.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    principal = 'The requester (an assumed role without its session name), or anonymous.',
    network = 'The /24 (IPv4) or /48 (IPv6) network the requests came from; null for anonymous requests, presigned URLs (used by whoever holds them, not where their signer runs) and those without an address.',
    requests = 'Requests.',
    granted = 'Requests answered below 400 (the access was given).',
    bytes_sent = 'Response bytes sent.',
    granted_bytes_sent = 'Response bytes sent by the granted requests.',
    deletes = 'Objects deleted (REST.DELETE.OBJECT and the per-key lines of multi-object deletes).',
    denied = 'Requests answered 403 AccessDenied.',
    not_found = 'Requests answered 404 NoSuchKey.',
    listings = 'Bucket listings (REST.GET.BUCKET, REST.GET.BUCKETVERSIONS).',
    addresses = 'Distinct remote addresses.',
    most_denied_per_address = 'The most AccessDenied answers one address got.',
    most_not_found_per_address = 'The most NoSuchKey answers one address got.',
    most_listings_per_address = 'The most listings one address made.',
    first_seen = 'First request.',
    last_seen = 'Last request.',
    sample_request_ids = 'The first three request ids.'
  )
);
-- The day's detections count the same things from the day's rows (security_detections):
-- a range run and day-by-day runs agree only if both count them alike.
WITH people AS (
    SELECT dt, bucket, principal, remote_ip, http_status, error_code, operation, bytes_sent,
           request_time, request_id,
           -- a presigned URL is used by whoever holds it, not where its signer runs
           CASE WHEN requester IS NOT NULL
                     AND authentication_type IS DISTINCT FROM 'QueryString'
                THEN network_of(remote_ip) END AS network
    FROM access_logs
    WHERE dt BETWEEN $start_date AND $end_date AND NOT is_aws_service
),
per_address AS (
    SELECT dt, bucket, principal, network,
           max(denied) AS most_denied, max(not_found) AS most_not_found,
           max(listings) AS most_listings
    FROM (SELECT dt, bucket, principal, network, remote_ip,
                 count(*) FILTER (WHERE http_status = 403 AND error_code = 'AccessDenied')
                     AS denied,
                 count(*) FILTER (WHERE http_status = 404 AND error_code = 'NoSuchKey')
                     AS not_found,
                 count(*) FILTER (WHERE operation IN ('REST.GET.BUCKET',
                                                      'REST.GET.BUCKETVERSIONS')) AS listings
          FROM people GROUP BY ALL)
    GROUP BY ALL
)
SELECT p.dt, p.bucket, p.principal, p.network,
       count(*) AS requests,
       count(*) FILTER (WHERE p.http_status < 400) AS granted,
       CAST(coalesce(sum(p.bytes_sent), 0) AS BIGINT) AS bytes_sent,
       CAST(coalesce(sum(p.bytes_sent) FILTER (WHERE p.http_status < 400), 0) AS BIGINT)
           AS granted_bytes_sent,
       count(*) FILTER (WHERE p.operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT'))
           AS deletes,
       count(*) FILTER (WHERE p.http_status = 403 AND p.error_code = 'AccessDenied') AS denied,
       count(*) FILTER (WHERE p.http_status = 404 AND p.error_code = 'NoSuchKey') AS not_found,
       count(*) FILTER (WHERE p.operation IN ('REST.GET.BUCKET', 'REST.GET.BUCKETVERSIONS'))
           AS listings,
       count(DISTINCT p.remote_ip) AS addresses,
       any_value(a.most_denied) AS most_denied_per_address,
       any_value(a.most_not_found) AS most_not_found_per_address,
       any_value(a.most_listings) AS most_listings_per_address,
       min(p.request_time) AS first_seen, max(p.request_time) AS last_seen,
       earliest_ids(p.request_id, p.request_time) AS sample_request_ids
FROM people AS p
JOIN per_address AS a ON a.dt = p.dt AND a.bucket = p.bucket AND a.principal = p.principal
                     AND a.network IS NOT DISTINCT FROM p.network
GROUP BY p.dt, p.bucket, p.principal, p.network
