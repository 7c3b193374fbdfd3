-- BASELINE for `make bench scale` (benchmarks/scale_bench.py), not a model of the catalog:
-- sql/security/security_detections.sql as it was when issue 17 was filed, i.e.
--     git show c3b2000:sql/security/security_detections.sql
-- The benchmark times it against the current model, on the same lake and day, by copying
-- the package's SQL folder to a temporary one with this file swapped in.
--
-- One change, so that it still runs on today's catalog: the original read its lookback
-- with setting('baseline', 'lookback_days'), a row since removed from
-- sql/security/detection_settings.csv (commit 8d3ae44). Each of those six calls is now
-- (SELECT '28'): the same value (28 days, as text, as setting() returns it) in the same
-- form, an uncorrelated scalar subquery, like the macro's (SELECT value FROM
-- detection_settings WHERE ...). DuckDB does not fold it into a constant, so, as in the
-- original, the lower bound of `hits` is not pushed into the scan of the lake: each day
-- reads every earlier day of the lake (the cost the issue is about). scale_bench checks
-- the plan for that and prints what it finds.
MODEL (
  name security_detections,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, detection, principal, remote_ip),
  nullable (principal, remote_ip),
  description 'What each detection found per day (day, bucket, detection, principal, address or network), before the finding lifecycle (security_findings adds status, ids and suppressions). AWS''s own traffic is left out; baselines learn from the lake''s own history; thresholds and severities from detection_settings, policy_severities and config_operations.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    detection = 'Which detection fired.',
    severity = 'info, low, medium or high.',
    principal = 'Who: the requester (an assumed role without its session name), or anonymous; null for findings about an address or a bucket.',
    remote_ip = 'From where: an address, or a network (CIDR) for network findings; null for findings about a principal or a bucket.',
    request_count = 'Requests in the finding.',
    first_seen = 'First request of the finding (for a delivery gap: when the silence began).',
    last_seen = 'Last request of the finding (for a delivery gap: when it ended).',
    sample_request_ids = 'Up to three request ids as evidence.',
    rule = 'What was broken or seen, in words: the policy entry, the baseline, the operations, the list entry.'
  )
);
-- Every detection has fixtures that must fire and a normal day on which it must stay
-- quiet (tests/test_models.py); `make eval` measures them on weeks of realistic traffic.
WITH hits AS (
    SELECT * FROM access_logs
    WHERE dt BETWEEN strftime(CAST($start_date AS DATE)
                              - to_days(CAST((SELECT '28') AS INT)),
                              '%Y-%m-%d')
                 AND $end_date
),
people AS (SELECT * FROM hits WHERE NOT is_aws_service),
win AS (SELECT * FROM people WHERE dt BETWEEN $start_date AND $end_date),
-- Each request with every request-level detection it matches (one row per match).
tagged AS (
    SELECT *, unnest(list_filter([
        -- Plain HTTP in lines new enough to log TLS (24+ fields); website endpoints are HTTP.
        CASE WHEN tls_version IS NULL AND field_count >= 24 AND request_tier <> 'system'
                  AND remote_ip IS NOT NULL AND NOT starts_with(operation, 'WEBSITE.')
             THEN 'no_tls' END,
        CASE WHEN try_cast(regexp_extract(lower(tls_version), 'tlsv([0-9.]+)', 1) AS DOUBLE)
                  < CAST(setting('weak_tls', 'min_version') AS DOUBLE) THEN 'weak_tls' END,
        CASE WHEN signature_version = 'SigV2' THEN 'sigv2' END,
        CASE WHEN acl_required THEN 'acl_required' END,
        CASE WHEN regexp_matches(lower(user_agent), setting('scanner_user_agent', 'pattern'))
             THEN 'scanner_user_agent' END,
        CASE WHEN authentication_type = 'QueryString' THEN 'presigned_url' END
    ], lambda d: d IS NOT NULL)) AS detection
    FROM win
),
-- Per day and principal, the figures baselines compare (each day's own lookback).
principal_days AS (
    SELECT dt, bucket, principal, count(*) AS n,
           count(*) FILTER (WHERE http_status < 400) AS granted,
           CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS sent,
           min(request_time) AS first_seen, max(request_time) AS last_seen,
           list(request_id ORDER BY bytes_sent DESC NULLS LAST)[1:3] AS samples,
           isodow(CAST(dt AS DATE)) AS dow,
           strftime(CAST(dt AS DATE) - to_days(CAST((SELECT '28')
                                                    AS INT)), '%Y-%m-%d') AS since
    FROM people GROUP BY dt, bucket, principal
),
bucket_days AS (SELECT DISTINCT dt, bucket FROM hits),
known AS (  -- principals with enough history on the bucket to have a baseline
    SELECT d.dt, d.bucket, d.principal, count(p.dt) AS days,
           avg(p.n) AS avg_n, max(p.n) FILTER (WHERE p.dow = d.dow) AS same_day_n,
           sum(p.sent) / CAST((SELECT '28') AS INT) AS avg_sent,
           max(p.sent) FILTER (WHERE p.dow = d.dow) AS same_day_sent
    FROM principal_days AS d
    JOIN principal_days AS p ON p.bucket = d.bucket AND p.principal = d.principal
                            AND p.dt < d.dt AND p.dt >= d.since AND p.granted > 0
    WHERE d.dt >= $start_date
    GROUP BY d.dt, d.bucket, d.principal
),
network_days AS (
    SELECT dt, bucket, principal, network_of(remote_ip) AS network, count(*) AS n,
           CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS sent,
           min(request_time) AS first_seen, max(request_time) AS last_seen,
           list(request_id ORDER BY request_time)[1:3] AS samples,
           strftime(CAST(dt AS DATE) - to_days(CAST((SELECT '28')
                                                    AS INT)), '%Y-%m-%d') AS since
    FROM people
    WHERE remote_ip IS NOT NULL AND requester IS NOT NULL AND http_status < 400
    GROUP BY ALL
),
hours AS (SELECT DISTINCT dt, bucket, hour(request_time) AS h FROM hits),
-- How far the lake's records reach (whatever days the run covers): a silence after the
-- last hour any bucket logged may be logs not delivered yet, not a bucket gone quiet.
latest AS (SELECT max(request_time) AS t FROM access_logs WHERE dt >= $start_date),
horizon AS (SELECT strftime(t, '%Y-%m-%d') AS dt, hour(t) AS h FROM latest),
gaps AS (  -- per window day and bucket with history: its longest silence, in hours
    SELECT d.dt, b.bucket,
           CASE WHEN d.dt < (SELECT dt FROM horizon) THEN 24
                WHEN d.dt = (SELECT dt FROM horizon) THEN (SELECT h FROM horizon) + 1
                ELSE 0 END AS until,
           (SELECT count(*) FROM hours AS x
            WHERE x.bucket = b.bucket AND x.dt < d.dt
              AND x.dt >= strftime(CAST(d.dt AS DATE) - INTERVAL 7 DAY, '%Y-%m-%d'))
               / (24.0 * 7) AS coverage,
           list_sort(coalesce((SELECT list(x.h) FROM hours AS x
                               WHERE x.bucket = b.bucket AND x.dt = d.dt), [])) AS logged
    FROM (SELECT strftime(CAST(range AS DATE), '%Y-%m-%d') AS dt
          FROM range(CAST($start_date AS DATE), CAST($end_date AS DATE) + INTERVAL 1 DAY,
                     INTERVAL 1 DAY)) AS d
    CROSS JOIN (SELECT DISTINCT bucket FROM hits) AS b
),
silences AS (
    SELECT dt, bucket, coverage, logged, unnest(list_transform(
               range(len(logged) + 1),
               lambda i: {'after': CASE WHEN i = 0 THEN -1 ELSE logged[i] END,
                          'before': CASE WHEN i = len(logged) THEN until
                                         ELSE logged[i + 1] END}))
               AS s
    FROM gaps
),
findings AS (
    SELECT 'access_denied_burst' AS detection, dt, bucket, principal, remote_ip,
           count(*) AS n, min(request_time) AS first_seen, max(request_time) AS last_seen,
           list(request_id ORDER BY request_time)[1:3] AS samples,
           'AccessDenied answered ' || count(*) || ' times' AS rule, NULL AS severity
    FROM win WHERE http_status = 403 AND error_code = 'AccessDenied'
    GROUP BY dt, bucket, principal, remote_ip
    HAVING count(*) >= CAST(setting('access_denied_burst', 'min_requests') AS INT)
    UNION ALL
    -- Anonymous success on a bucket the policy file does not cover (where it does,
    -- policy_anonymous says whether that was expected): one finding per bucket and day,
    -- low once it is the bucket's routine (a public website not declared as one yet).
    SELECT 'anonymous_access', a.dt, a.bucket, 'anonymous', NULL, count(*),
           min(a.request_time), max(a.request_time),
           list(a.request_id ORDER BY a.request_time)[1:3],
           count(DISTINCT a.remote_ip) || ' addresses' || CASE WHEN any_value(k.days)
               >= CAST(setting('baseline', 'min_history_days') AS INT) THEN '; routine on '
               || 'this bucket: declare it public (anonymous: allow) in the policy file'
               ELSE '' END,
           CASE WHEN any_value(k.days) >= CAST(setting('baseline', 'min_history_days') AS INT)
                THEN 'low' END
    FROM win AS a
    LEFT JOIN known AS k ON k.dt = a.dt AND k.bucket = a.bucket AND k.principal = 'anonymous'
    WHERE a.requester IS NULL AND a.http_status BETWEEN 200 AND 299
      AND NOT EXISTS (SELECT 1 FROM policy_buckets AS p WHERE a.bucket GLOB p.bucket_pattern)
    GROUP BY a.dt, a.bucket
    UNION ALL
    -- Credentials that do not work, tried again and again from one address.
    SELECT 'auth_failure_burst', dt, bucket, NULL, remote_ip, count(*), min(request_time),
           max(request_time), list(request_id ORDER BY request_time)[1:3],
           string_agg(DISTINCT error_code, ', ' ORDER BY error_code), NULL
    FROM win
    WHERE http_status = 403 AND error_code IN (SELECT unnest(string_split(
              setting('auth_failure_burst', 'error_codes'), '|')))
    GROUP BY dt, bucket, remote_ip
    HAVING count(*) >= CAST(setting('auth_failure_burst', 'min_requests') AS INT)
    UNION ALL
    SELECT 'mass_delete', dt, bucket, principal, NULL, count(*), min(request_time),
           max(request_time), list(request_id ORDER BY request_time)[1:3],
           count(*) || ' objects deleted', NULL
    FROM win WHERE operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT')
    GROUP BY dt, bucket, principal
    HAVING count(*) >= CAST(setting('mass_delete', 'min_deletes') AS INT)
    UNION ALL
    -- A principal that never got access to the bucket in the lookback days, once the
    -- bucket has enough history to know its principals.
    SELECT 'new_principal', w.dt, w.bucket, w.principal, NULL, w.n, w.first_seen,
           w.last_seen, w.samples, 'first access in ' || (SELECT '28')
           || ' days', NULL
    FROM principal_days AS w
    WHERE w.dt >= $start_date AND w.principal <> 'anonymous' AND w.granted > 0
      AND (SELECT count(*) FROM bucket_days AS b WHERE b.bucket = w.bucket AND b.dt < w.dt
             AND b.dt >= w.since) >= CAST(setting('baseline', 'min_history_days') AS INT)
      AND NOT EXISTS (SELECT 1 FROM principal_days AS p WHERE p.bucket = w.bucket
                        AND p.principal = w.principal AND p.dt < w.dt AND p.dt >= w.since
                        AND p.granted > 0)
    UNION ALL
    -- A known principal from a network it never used on the bucket; high when much data
    -- left through it (credentials used from somewhere else, and used to take data).
    SELECT 'new_network', w.dt, w.bucket, w.principal, w.network, w.n, w.first_seen,
           w.last_seen, w.samples, format('first use of this network in {} days; {:.1f} GB '
           || 'sent through it', (SELECT '28'), w.sent / 1e9),
           CASE WHEN w.sent >= CAST(setting('new_network', 'high_bytes') AS BIGINT)
                THEN 'high' END
    FROM network_days AS w
    JOIN known AS k USING (dt, bucket, principal)
    WHERE w.dt >= $start_date
      AND k.days >= CAST(setting('baseline', 'min_history_days') AS INT)
      AND NOT EXISTS (SELECT 1 FROM network_days AS p WHERE p.bucket = w.bucket
                        AND p.principal = w.principal AND p.network = w.network
                        AND p.dt < w.dt AND p.dt >= w.since)
    UNION ALL
    -- Bytes far above the principal's own: its daily average, or the same weekday's most.
    SELECT 'exfiltration', d.dt, d.bucket, d.principal, NULL, d.n, d.first_seen,
           d.last_seen, d.samples, format('{:.1f} GB sent; baseline {:.1f} GB',
           d.sent / 1e9, greatest(coalesce(k.avg_sent, 0), coalesce(k.same_day_sent, 0)) / 1e9),
           NULL
    FROM principal_days AS d LEFT JOIN known AS k USING (dt, bucket, principal)
    WHERE d.dt >= $start_date AND d.principal <> 'anonymous'
      AND (SELECT count(*) FROM bucket_days AS b WHERE b.bucket = d.bucket AND b.dt < d.dt
             AND b.dt >= d.since) >= CAST(setting('baseline', 'min_history_days') AS INT)
      AND d.sent >= CAST(setting('exfiltration', 'min_bytes') AS BIGINT)
      AND d.sent > CAST(setting('exfiltration', 'factor') AS DOUBLE)
                   * greatest(coalesce(k.avg_sent, 0), coalesce(k.same_day_sent, 0))
    UNION ALL
    -- Requests far above the principal's own rhythm (daily average or same weekday).
    SELECT 'request_rate_spike', d.dt, d.bucket, d.principal, NULL, d.n, d.first_seen,
           d.last_seen, d.samples, format('{} requests; baseline {:.0f}', d.n,
           greatest(k.avg_n, coalesce(k.same_day_n, 0))), NULL
    FROM principal_days AS d JOIN known AS k USING (dt, bucket, principal)
    WHERE k.days >= CAST(setting('baseline', 'min_history_days') AS INT)
      AND d.n >= CAST(setting('request_rate_spike', 'min_requests') AS INT)
      AND d.n > CAST(setting('request_rate_spike', 'factor') AS DOUBLE)
                * greatest(k.avg_n, coalesce(k.same_day_n, 0))
    UNION ALL
    SELECT 'enumeration', dt, bucket, principal, remote_ip, count(*), min(request_time),
           max(request_time), list(request_id ORDER BY request_time)[1:3],
           count(*) FILTER (WHERE error_code = 'NoSuchKey') || ' missing keys, '
           || count(*) FILTER (WHERE operation LIKE 'REST.GET.BUCKET%') || ' listings', NULL
    FROM win WHERE (http_status = 404 AND error_code = 'NoSuchKey')
                   OR operation IN ('REST.GET.BUCKET', 'REST.GET.BUCKETVERSIONS')
    GROUP BY dt, bucket, principal, remote_ip
    HAVING count(*) FILTER (WHERE error_code = 'NoSuchKey')
               >= CAST(setting('enumeration', 'min_not_found') AS INT)
        OR count(*) FILTER (WHERE operation LIKE 'REST.GET.BUCKET%')
               >= CAST(setting('enumeration', 'min_lists') AS INT)
    UNION ALL
    -- Bucket configuration changed (the log shows the operation, not the new setting).
    SELECT 'config_change', w.dt, w.bucket, w.principal, w.remote_ip, count(*),
           min(w.request_time), max(w.request_time),
           list(w.request_id ORDER BY w.request_time)[1:3],
           string_agg(DISTINCT c.kind || ' (' || w.operation || ')', ', '),
           -- the most severe of the operations
           ['info', 'low', 'medium', 'high'][max(list_position(['info', 'low', 'medium',
                                                                'high'], c.severity))]
    FROM win AS w JOIN config_operations AS c USING (operation)
    WHERE w.http_status < 300
    GROUP BY w.dt, w.bucket, w.principal, w.remote_ip
    UNION ALL
    -- A bucket that logs nearly every hour went silent for hours.
    SELECT 'log_delivery_gap', dt, bucket, NULL, NULL, len(logged),
           CAST(dt || ' 00:00:00+00' AS TIMESTAMPTZ)
               + to_hours(CAST(max_by(s.after, s.before - s.after) + 1 AS INT)),
           CAST(dt || ' 00:00:00+00' AS TIMESTAMPTZ)
               + to_hours(CAST(max_by(s.before, s.before - s.after) AS INT)),
           CAST([] AS VARCHAR[]), 'no records for ' || max(s.before - s.after - 1) || ' hours (logs '
           || round(100 * any_value(coverage)) || '% of hours normally)', NULL
    FROM silences
    WHERE coverage >= CAST(setting('log_delivery_gap', 'min_hourly_coverage') AS DOUBLE)
    GROUP BY dt, bucket, logged
    HAVING max(s.before - s.after - 1)
           >= CAST(setting('log_delivery_gap', 'min_silent_hours') AS INT)
    UNION ALL
    -- Addresses on the user's threat list (S3LOGS_THREAT_LIST).
    SELECT 'threat_list', w.dt, w.bucket, w.principal, w.remote_ip, count(*),
           min(w.request_time), max(w.request_time),
           list(w.request_id ORDER BY w.request_time)[1:3],
           'listed: ' || min(w.cidr) || coalesce(' ' || nullif(min(w.label), ''), ''), NULL
    FROM (SELECT w.*, t.cidr, t.label  -- one list entry per request, however many match
          FROM win AS w JOIN threat_networks AS t
            ON ip_key(w.remote_ip) BETWEEN t.lo AND t.hi
          QUALIFY row_number() OVER (PARTITION BY w.dt, w.bucket, w.record_id
                                     ORDER BY t.hi, t.lo DESC, t.cidr) = 1) AS w
    GROUP BY w.dt, w.bucket, w.principal, w.remote_ip
    UNION ALL
    -- Access the policy file does not allow, grouped so each finding is one thing to check.
    SELECT v.detection, v.dt, v.bucket, v.who, v.at, count(*), min(v.request_time),
           max(v.request_time), list(v.request_id ORDER BY v.request_time)[1:3],
           'policy entry ' || any_value(v.policy_entry) || ': ' || any_value(CASE v.detection
               WHEN 'policy_anonymous' THEN 'anonymous access is denied'
               WHEN 'policy_principal' THEN 'principal not allowed (or read-only)'
               WHEN 'policy_network' THEN 'network not allowed'
               ELSE 'TLS below ' || v.min_tls END), NULL
    FROM (SELECT *,
                 CASE WHEN detection = 'policy_anonymous' THEN 'anonymous' ELSE principal
                 END AS who,
                 CASE WHEN detection = 'policy_network' THEN network_of(remote_ip) END AS at
          FROM (SELECT *, unnest(violations) AS detection
                FROM policy_checked($start_date, $end_date))) AS v
    GROUP BY v.detection, v.dt, v.bucket, v.who, v.at
    UNION ALL
    -- The request-level detections, each request counted once per detection it matches;
    -- presigned URLs are grouped per principal only.
    SELECT detection, dt, bucket, principal,
           CASE WHEN detection = 'presigned_url' THEN NULL ELSE remote_ip END,
           count(*), min(request_time), max(request_time),
           list(request_id ORDER BY request_time)[1:3], NULL, NULL
    FROM tagged GROUP BY ALL
    UNION ALL
    -- AWS's own lifecycle deletions: reported so they are not mistaken for someone's.
    SELECT 'lifecycle_expirations', dt, bucket, principal, NULL, count(*),
           min(request_time), max(request_time), list(request_id ORDER BY request_time)[1:3],
           count(*) || ' objects expired', NULL
    FROM hits
    WHERE dt BETWEEN $start_date AND $end_date
      AND operation IN ('S3.EXPIRE.OBJECT', 'S3.CREATE.DELETEMARKER')
    GROUP BY dt, bucket, principal
)
SELECT dt, bucket, detection,
       coalesce((SELECT s.severity FROM policy_severities AS s WHERE s.detection = f.detection),
                f.severity, setting(f.detection, 'severity')) AS severity,
       principal, remote_ip, n AS request_count, first_seen, last_seen,
       samples AS sample_request_ids, rule
FROM findings AS f
