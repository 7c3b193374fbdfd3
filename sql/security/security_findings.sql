MODEL (
  name security_findings,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, detection, principal, remote_ip),
  nullable (principal, remote_ip),
  description 'One row per finding (day, bucket, detection, principal, remote IP) with its severity, a request count, first and last seen, and up to three request ids as evidence; thresholds and severities from detection_settings.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    detection = 'Which detection fired.',
    severity = 'info, low, medium or high (detection_settings).',
    principal = 'Requester, or anonymous; null for findings about an address.',
    remote_ip = 'Remote IP address; null for findings about a principal.',
    request_count = 'Requests in the finding.',
    first_seen = 'First request of the finding.',
    last_seen = 'Last request of the finding.',
    sample_request_ids = 'Up to three request ids as evidence.'
  )
);
-- Every detection has fixtures that must fire and a normal day on which it must stay
-- quiet (tests/test_models.py).
WITH hits AS (
    SELECT *, coalesce(requester, 'anonymous') AS principal
    FROM access_logs
    WHERE dt BETWEEN strftime(CAST($start_date AS DATE) - to_days(greatest(
                     CAST(setting('new_principal', 'lookback_days') AS INT),
                     CAST(setting('new_ip', 'lookback_days') AS INT),
                     CAST(setting('exfiltration', 'lookback_days') AS INT))), '%Y-%m-%d')
                 AND $end_date
),
win AS (SELECT * FROM hits WHERE dt BETWEEN $start_date AND $end_date),
-- Each request with every request-level detection it matches (one row per match).
tagged AS (
    SELECT *, unnest(list_filter([
        -- Succeeded without any credentials.
        CASE WHEN requester IS NULL AND http_status BETWEEN 200 AND 299
             THEN 'anonymous_access' END,
        -- Plain HTTP (no TLS), in lines new enough to log TLS (24+ fields).
        CASE WHEN tls_version IS NULL AND field_count >= 24 AND request_tier <> 'system'
                  AND remote_ip IS NOT NULL THEN 'no_tls' END,
        -- TLS below the minimum version.
        CASE WHEN try_cast(regexp_extract(lower(tls_version), 'tlsv([0-9.]+)', 1) AS DOUBLE)
                  < CAST(setting('weak_tls', 'min_version') AS DOUBLE) THEN 'weak_tls' END,
        -- Signature Version 2, deprecated.
        CASE WHEN signature_version = 'SigV2' THEN 'sigv2' END,
        -- Authorised only through an ACL (what blocks disabling ACLs).
        CASE WHEN acl_required THEN 'acl_required' END,
        -- Known scanner and attack-tool user agents.
        CASE WHEN regexp_matches(lower(user_agent), setting('scanner_user_agent', 'pattern'))
             THEN 'scanner_user_agent' END,
        -- Presigned URLs (query-string authentication).
        CASE WHEN authentication_type = 'QueryString' THEN 'presigned_url' END,
        -- Lifecycle expirations: expected deletions, reported so they are not mistaken.
        CASE WHEN operation IN ('S3.EXPIRE.OBJECT', 'S3.CREATE.DELETEMARKER')
             THEN 'lifecycle_expirations' END
    ], lambda d: d IS NOT NULL)) AS detection
    FROM win
),
-- Small per-day summaries for the detections that compare a day with the days before it.
bucket_days AS (SELECT DISTINCT dt, bucket FROM hits),
principal_days AS (
    SELECT dt, bucket, principal, count(*) AS n, CAST(sum(bytes_sent) AS BIGINT) AS sent,
           min(request_time) AS first_seen, max(request_time) AS last_seen,
           list(request_id ORDER BY bytes_sent DESC NULLS LAST)[1:3] AS samples,
           strftime(CAST(dt AS DATE) - to_days(CAST(setting('new_principal', 'lookback_days')
                                                    AS INT)), '%Y-%m-%d') AS since_principal,
           strftime(CAST(dt AS DATE) - to_days(CAST(setting('exfiltration', 'lookback_days')
                                                    AS INT)), '%Y-%m-%d') AS since_exfil
    FROM hits GROUP BY dt, bucket, principal
),
ip_days AS (
    SELECT dt, bucket, remote_ip, count(*) AS n, min(request_time) AS first_seen,
           max(request_time) AS last_seen, list(request_id ORDER BY request_time)[1:3] AS samples,
           strftime(CAST(dt AS DATE) - to_days(CAST(setting('new_ip', 'lookback_days')
                                                    AS INT)), '%Y-%m-%d') AS since_ip
    FROM hits WHERE remote_ip IS NOT NULL GROUP BY dt, bucket, remote_ip
),
findings AS (
    -- Many AccessDenied answers to one principal from one address in a day.
    SELECT 'access_denied_burst' AS detection, dt, bucket, principal, remote_ip,
           count(*) AS n, min(request_time) AS first_seen, max(request_time) AS last_seen,
           list(request_id ORDER BY request_time)[1:3] AS samples
    FROM win WHERE http_status = 403 AND error_code = 'AccessDenied'
    GROUP BY ALL HAVING count(*) >= CAST(setting('access_denied_burst', 'min_requests') AS INT)
    UNION ALL
    -- Many deleted keys by one principal in a day (lifecycle is reported apart, below).
    SELECT 'mass_delete', dt, bucket, principal, NULL, count(*), min(request_time),
           max(request_time), list(request_id ORDER BY request_time)[1:3]
    FROM win
    WHERE operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT')
      AND requester_type <> 'aws_service'
    GROUP BY ALL HAVING count(*) >= CAST(setting('mass_delete', 'min_deletes') AS INT)
    UNION ALL
    -- A principal never seen on the bucket in the lookback days (buckets with history only).
    SELECT 'new_principal', w.dt, w.bucket, w.principal, NULL, w.n, w.first_seen, w.last_seen,
           w.samples
    FROM principal_days AS w
    WHERE w.principal <> 'anonymous'
      AND EXISTS (SELECT 1 FROM bucket_days AS b WHERE b.bucket = w.bucket AND b.dt < w.dt
                    AND b.dt >= w.since_principal)
      AND NOT EXISTS (SELECT 1 FROM principal_days AS p WHERE p.bucket = w.bucket
                        AND p.principal = w.principal AND p.dt < w.dt
                        AND p.dt >= w.since_principal)
      AND w.dt >= $start_date
    UNION ALL
    -- A remote address never seen on the bucket in the lookback days.
    SELECT 'new_ip', w.dt, w.bucket, NULL, w.remote_ip, w.n, w.first_seen, w.last_seen,
           w.samples
    FROM ip_days AS w
    WHERE EXISTS (SELECT 1 FROM bucket_days AS b WHERE b.bucket = w.bucket AND b.dt < w.dt
                    AND b.dt >= w.since_ip)
      AND NOT EXISTS (SELECT 1 FROM ip_days AS p WHERE p.bucket = w.bucket
                        AND p.remote_ip = w.remote_ip AND p.dt < w.dt AND p.dt >= w.since_ip)
      AND w.dt >= $start_date
    UNION ALL
    -- Bytes sent to a principal far above its own daily average over the lookback days.
    SELECT 'exfiltration', d.dt, d.bucket, d.principal, NULL, d.n, d.first_seen, d.last_seen,
           d.samples
    FROM principal_days AS d
    WHERE d.dt >= $start_date
      AND d.sent >= CAST(setting('exfiltration', 'min_bytes') AS BIGINT)
      AND d.sent > CAST(setting('exfiltration', 'factor') AS DOUBLE) * coalesce((
          SELECT sum(p.sent) / CAST(setting('exfiltration', 'lookback_days') AS INT)
          FROM principal_days AS p
          WHERE p.bucket = d.bucket AND p.principal = d.principal AND p.dt < d.dt
            AND p.dt >= d.since_exfil), 0)
    UNION ALL
    -- Key enumeration: bursts of NoSuchKey or of listings from one address.
    SELECT 'enumeration', dt, bucket, principal, remote_ip, count(*), min(request_time),
           max(request_time), list(request_id ORDER BY request_time)[1:3]
    FROM win WHERE (http_status = 404 AND error_code = 'NoSuchKey')
                   OR operation IN ('REST.GET.BUCKET', 'REST.GET.BUCKETVERSIONS')
    GROUP BY ALL
    HAVING count(*) FILTER (WHERE error_code = 'NoSuchKey')
               >= CAST(setting('enumeration', 'min_not_found') AS INT)
        OR count(*) FILTER (WHERE operation LIKE 'REST.GET.BUCKET%')
               >= CAST(setting('enumeration', 'min_lists') AS INT)
    UNION ALL
    -- The request-level detections, each request counted once per detection it matches;
    -- presigned URLs and lifecycle expirations are grouped per principal only.
    SELECT detection, dt, bucket, principal,
           CASE WHEN detection IN ('presigned_url', 'lifecycle_expirations') THEN NULL
                ELSE remote_ip END,
           count(*), min(request_time), max(request_time),
           list(request_id ORDER BY request_time)[1:3]
    FROM tagged
    GROUP BY ALL
)
SELECT dt, bucket, detection, setting(detection, 'severity') AS severity, principal,
       remote_ip, n AS request_count, first_seen, last_seen, samples AS sample_request_ids
FROM findings
