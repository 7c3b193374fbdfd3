MODEL (
  name security_detections,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, detection, principal),
  nullable (principal),
  audits (
    not_null (dt, bucket, detection, severity, request_count),
    accepted_values (severity, ('info', 'low', 'medium', 'high'))
  ),
  parameters (lookback_days = 28),
  window (days = lookback_days),
  description 'What each detection found per day: one row per bucket, detection and principal (or none, for findings about addresses or a bucket), with the addresses or networks involved as a list with counts, before the finding lifecycle (security_findings adds status, ids and suppressions). AWS''s own traffic is left out; baselines learn from the lake''s own history; thresholds and severities from detection_settings, policy_severities and config_operations.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    detection = 'Which detection fired.',
    severity = 'info, low, medium or high.',
    principal = 'Who: the requester (an assumed role without its session name), or anonymous; null for findings about an address or a bucket.',
    addresses = 'From where: the addresses (or networks, as CIDR, for network findings) involved, each with its requests, the busiest first; at most finding.max_addresses of them.',
    address_count = 'How many addresses or networks are involved (addresses may hold fewer).',
    sources = 'The addresses in words: the busiest three with their requests, and how many more; null when the finding is about no address.',
    request_count = 'Requests in the finding.',
    first_seen = 'First request of the finding (for a delivery gap: when the silence began).',
    last_seen = 'Last request of the finding (for a delivery gap: when it ended).',
    sample_request_ids = 'Up to three request ids as evidence.',
    rule = 'What was broken or seen, in words: the policy entry, the baseline, the operations, the list entry.'
  )
);
-- Every detection has fixtures that must fire and a normal day on which it must stay
-- quiet (tests/test_models.py); `make eval` measures them on weeks of realistic traffic.
-- What it reads: the run's own days from the records, and for the baselines the summaries
-- of the lookback days before them (security_activity, usage_hourly), never older records.
-- The scanner pattern is a setting, not a constant, so it is matched once per user agent.
WITH scanners AS (
    SELECT agent FROM (SELECT DISTINCT lower(user_agent) AS agent FROM access_logs
                       WHERE dt BETWEEN $start_date AND $end_date)
    WHERE regexp_matches(agent, setting('scanner_user_agent', 'pattern'))
),
-- The day's rows are read once and held for the fourteen places that use them, so they
-- hold only what those use, narrowed where they can be: a wide day spills.
day_rows AS (
    SELECT dt, bucket, principal, requester IS NULL AS anonymous, remote_ip, request_time,
           request_id, operation, http_status, error_code, bytes_sent,
           lower(user_agent) IN (SELECT agent FROM scanners) AS scanner,
           tls_version, field_count, request_tier, signature_version, acl_required,
           authentication_type, is_aws_service, key IS NULL AS bucket_level,
           -- a presigned URL: its key and signing time (X-Amz-Date; Expires for SigV2)
           CASE WHEN authentication_type = 'QueryString' THEN key END AS presigned_key,
           CASE WHEN authentication_type = 'QueryString' THEN regexp_extract(
               request_uri, '[?&](X-Amz-Date|Expires)=([^& ]+)', 2) END AS signed_at
    FROM access_logs WHERE dt BETWEEN $start_date AND $end_date
),
win AS (SELECT * FROM day_rows WHERE NOT is_aws_service),
entries AS (SELECT * FROM policy_entries($start_date, $end_date)),  -- each bucket's entry
earlier AS (
    SELECT * FROM security_activity
    WHERE dt >= strftime(CAST($start_date AS DATE) - to_days($lookback_days), '%Y-%m-%d')
      AND dt < $start_date
),
-- Each request with every request-level detection it matches (one row per match).
tagged AS (
    -- Plain HTTP in lines new enough to log TLS (24+ fields); website endpoints are HTTP.
    SELECT *, 'no_tls' AS detection FROM win
    WHERE tls_version IS NULL AND field_count >= 24 AND request_tier <> 'system'
      AND remote_ip IS NOT NULL AND NOT starts_with(operation, 'WEBSITE.')
    UNION ALL
    SELECT *, 'weak_tls' FROM win
    WHERE try_cast(regexp_extract(lower(tls_version), 'tlsv([0-9.]+)', 1) AS DOUBLE)
          < CAST(setting('weak_tls', 'min_version') AS DOUBLE)
    UNION ALL
    SELECT *, 'sigv2' FROM win WHERE signature_version = 'SigV2'
    UNION ALL
    SELECT *, 'acl_required' FROM win WHERE acl_required
    UNION ALL
    SELECT *, 'scanner_user_agent' FROM win WHERE scanner
    UNION ALL
    SELECT *, 'presigned_url' FROM win WHERE authentication_type = 'QueryString'
),
-- Per day and principal, the figures baselines compare (each day's own lookback).
principal_days AS (
    SELECT dt, bucket, principal, count(*) AS n,
           count(*) FILTER (WHERE http_status < 400) AS granted,
           CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS sent,
           count(*) FILTER (WHERE operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT'))
               AS deletes,
           min(request_time) AS first_seen, max(request_time) AS last_seen,
           min_by(request_id, {'b': -coalesce(bytes_sent, -1), 't': request_time,
                               'id': request_id}, 3) AS samples,  -- the largest first
           isodow(CAST(dt AS DATE)) AS dow,
           strftime(CAST(dt AS DATE) - to_days($lookback_days), '%Y-%m-%d') AS since
    FROM win GROUP BY dt, bucket, principal
),
-- Per day, principal and address: what bursts of denials and enumeration count.
address_days AS (
    SELECT dt, bucket, principal, remote_ip,
           count(*) FILTER (WHERE http_status = 403 AND error_code = 'AccessDenied') AS denied,
           count(*) FILTER (WHERE http_status = 404 AND error_code = 'NoSuchKey') AS not_found,
           count(*) FILTER (WHERE operation IN ('REST.GET.BUCKET', 'REST.GET.BUCKETVERSIONS'))
               AS listings
    FROM win GROUP BY dt, bucket, principal, remote_ip
),
-- The figures of every day before the one judged: the summaries of the days before the
-- run, then the run's own days (counted as security_activity counts them).
principal_history AS (
    SELECT dt, bucket, principal, CAST(sum(requests) AS BIGINT) AS n,
           CAST(sum(granted) AS BIGINT) AS granted, CAST(sum(bytes_sent) AS BIGINT) AS sent,
           CAST(sum(deletes) AS BIGINT) AS deletes,
           max(most_denied_per_address) AS most_denied,
           max(most_not_found_per_address) AS most_not_found,
           max(most_listings_per_address) AS most_listings
    FROM earlier GROUP BY dt, bucket, principal
    UNION ALL
    SELECT d.dt, d.bucket, d.principal, d.n, d.granted, d.sent, d.deletes,
           a.most_denied, a.most_not_found, a.most_listings
    FROM principal_days AS d
    JOIN (SELECT dt, bucket, principal, max(denied) AS most_denied,
                 max(not_found) AS most_not_found, max(listings) AS most_listings
          FROM address_days GROUP BY dt, bucket, principal) AS a
      USING (dt, bucket, principal)
),
known AS (  -- principals with enough history on the bucket to have a baseline
    -- bytes averaged over the days since the principal's first day in the lookback, not
    -- the whole lookback: a service two weeks old is not diluted by days before it existed
    -- days: the days it got access; age: days since the first of them, the history that
    -- counts (a weekly job active on 4 days of 28 has 3 weeks of history, not 4 days)
    SELECT d.dt, d.bucket, d.principal, count(p.dt) AS days,
           CAST(d.dt AS DATE) - CAST(min(p.dt) AS DATE) AS age,
           avg(p.n) AS avg_n,
           max(p.n) FILTER (WHERE p.dow = d.dow) AS same_day_n,
           sum(p.sent) / (CAST(d.dt AS DATE) - CAST(min(p.dt) AS DATE)) AS avg_sent,
           max(p.sent) FILTER (WHERE p.dow = d.dow) AS same_day_sent,
           -- the most it did on one day of the lookback (from one address, where it says)
           max(p.deletes) AS most_deletes, max(p.most_denied) AS most_denied,
           max(p.most_not_found) AS most_not_found, max(p.most_listings) AS most_listings
    FROM principal_days AS d
    JOIN (SELECT *, isodow(CAST(dt AS DATE)) AS dow FROM principal_history) AS p
      ON p.bucket = d.bucket AND p.principal = d.principal
     AND p.dt < d.dt AND p.dt >= d.since AND p.granted > 0
    GROUP BY d.dt, d.bucket, d.principal
),
network_days AS (
    SELECT dt, bucket, principal, network_of(remote_ip) AS network, count(*) AS n,
           CAST(coalesce(sum(bytes_sent), 0) AS BIGINT) AS sent,
           min(request_time) AS first_seen, max(request_time) AS last_seen,
           earliest_ids(request_id, request_time) AS samples,
           strftime(CAST(dt AS DATE) - to_days($lookback_days), '%Y-%m-%d') AS since
    FROM win
    WHERE remote_ip IS NOT NULL AND NOT anonymous AND http_status < 400
      AND authentication_type IS DISTINCT FROM 'QueryString'   -- as security_activity
    GROUP BY ALL
),
-- Each presigned URL of the days (its signer, key and signing time) used from many
-- addresses.
shared AS (
    SELECT dt, bucket, principal, presigned_key AS key, signed_at,
           count(DISTINCT remote_ip) AS addresses
    FROM win
    WHERE authentication_type = 'QueryString' AND http_status < 400
    GROUP BY dt, bucket, principal, presigned_key, signed_at
    HAVING count(DISTINCT remote_ip)
           >= CAST(setting('presigned_shared', 'min_addresses') AS INT)
),
network_history AS (
    SELECT dt, bucket, principal, network FROM earlier
    WHERE network IS NOT NULL AND granted > 0
    UNION ALL
    SELECT dt, bucket, principal, network FROM network_days
),
hours AS (
    SELECT dt, bucket, hour AS h FROM usage_hourly
    WHERE dt >= strftime(CAST($start_date AS DATE) - to_days($lookback_days), '%Y-%m-%d')
      AND dt < $start_date
    UNION
    SELECT DISTINCT dt, bucket, hour(request_time) FROM day_rows
),
bucket_days AS (SELECT DISTINCT dt, bucket FROM hours),
-- How far the lake's records reach (whatever days the run covers): a silence after the
-- last hour any bucket logged may be logs not delivered yet, not a bucket gone quiet.
-- Records of the day after the run mean the run's days are complete.
latest AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM lake_access_logs WHERE dt = strftime(
                                 CAST($end_date AS DATE) + 1, '%Y-%m-%d') LIMIT 1)
                THEN CAST(CAST($end_date AS DATE) + 1 AS TIMESTAMPTZ)
                ELSE (SELECT max(request_time) FROM day_rows) END AS t
),
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
    CROSS JOIN (SELECT DISTINCT bucket FROM bucket_days) AS b
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
-- Each address of the days on the threat list, with the narrowest entry that holds it.
listed AS (
    SELECT a.remote_ip, t.cidr, t.label
    FROM (SELECT remote_ip, ip_key(remote_ip) AS ip
          FROM (SELECT DISTINCT remote_ip FROM win WHERE remote_ip IS NOT NULL)) AS a
    JOIN threat_networks AS t ON a.ip BETWEEN t.lo AND t.hi
    QUALIFY row_number() OVER (PARTITION BY a.remote_ip ORDER BY t.hi, t.lo DESC, t.cidr) = 1
),
-- Counts that grow with a principal's own traffic are judged against the most it did on a
-- day of its lookback, times a factor, as well as against a floor: a busy application's
-- routine is not a burst, whatever the estate's size. Without enough history, the floor.
usual AS (
    SELECT dt, bucket, principal, most_deletes, most_denied, most_not_found, most_listings
    FROM known WHERE age >= CAST(setting('baseline', 'min_history_days') AS INT)
),
-- Anonymous writes, deletes and configuration changes that worked, on a bucket whose
-- policy entry does not expect them (`anonymous: write` allows object writes and deletes,
-- `allow` everything), or that no entry covers: a public website anyone can write to is a
-- classic breach, whatever its readers are allowed.
anonymous_writes AS (
    SELECT a.*, coalesce(e.anonymous, 'none') AS allowed
    FROM win AS a LEFT JOIN entries AS e USING (bucket)
    WHERE a.anonymous AND a.http_status < 400
      AND access_kind(a.operation) <> 'read'
      AND NOT CASE coalesce(e.anonymous, 'deny')
                  WHEN 'allow' THEN true
                  WHEN 'write' THEN access_kind(a.operation) IN ('write', 'delete')
                  ELSE false END
),
-- Bucket configuration changed (the log shows the operation, not the new setting): the
-- operations config_operations names, and any other bucket-level PUT, POST or DELETE
-- (access_kind 'configure'), which AWS may have added since the list was made.
config_changes AS (
    SELECT w.*, coalesce(c.kind, 'a configuration operation no list names') AS kind,
           coalesce(c.severity, setting('config_change', 'severity')) AS severity
    FROM win AS w LEFT JOIN config_operations AS c USING (operation)
    WHERE w.http_status < 300
      AND (c.kind IS NOT NULL OR (access_kind(w.operation) = 'configure' AND w.bucket_level))
),
-- What each detection found, in parts: one per address (or network) where the detection
-- counts per address, else one. The parts of a bucket, day, detection and principal are
-- one finding (below), with the addresses as a list, so one incident is one row.
findings AS (
    SELECT 'access_denied_burst' AS detection, w.dt, w.bucket, w.principal, w.remote_ip AS source,
           count(*) AS n, min(w.request_time) AS first_seen, max(w.request_time) AS last_seen,
           earliest_ids(w.request_id, w.request_time) AS samples,
           'AccessDenied answered ' || count(*) || ' times to one address'
               || coalesce('; at most ' || nullif(any_value(k.most_denied), 0)
                           || ' from one address on a day before', '') AS rule,
           NULL AS severity
    FROM win AS w LEFT JOIN usual AS k USING (dt, bucket, principal)
    WHERE w.http_status = 403 AND w.error_code = 'AccessDenied'
    GROUP BY w.dt, w.bucket, w.principal, w.remote_ip
    HAVING count(*) >= CAST(setting('access_denied_burst', 'min_requests') AS INT)
       AND count(*) > CAST(setting('access_denied_burst', 'factor') AS DOUBLE)
                      * coalesce(any_value(k.most_denied), 0)
    UNION ALL
    -- Anonymous success on a bucket the policy file does not cover (where it does,
    -- policy_anonymous says whether that was expected): one finding per bucket and day,
    -- low once it is the bucket's routine (a public website not declared as one yet).
    SELECT 'anonymous_access', a.dt, a.bucket, 'anonymous', a.remote_ip, count(*),
           min(a.request_time), max(a.request_time),
           earliest_ids(a.request_id, a.request_time),
           'anonymous reads worked' || CASE WHEN any_value(k.days)
               >= CAST(setting('baseline', 'min_history_days') AS INT) THEN '; routine on '
               || 'this bucket: declare it public (anonymous: allow) in the policy file'
               ELSE '' END,
           CASE WHEN any_value(k.days) >= CAST(setting('baseline', 'min_history_days') AS INT)
                THEN 'low' END
    FROM win AS a
    LEFT JOIN known AS k ON k.dt = a.dt AND k.bucket = a.bucket AND k.principal = 'anonymous'
    WHERE a.anonymous AND a.http_status BETWEEN 200 AND 299
      AND access_kind(a.operation) = 'read'
      AND NOT EXISTS (SELECT 1 FROM policy_buckets AS p WHERE a.bucket GLOB p.bucket_pattern)
    GROUP BY a.dt, a.bucket, a.remote_ip
    UNION ALL
    SELECT 'anonymous_write', x.dt, x.bucket, 'anonymous', x.remote_ip, x.n, x.first_seen,
           x.last_seen, x.samples, r.rule, NULL
    FROM (SELECT dt, bucket, remote_ip, count(*) AS n, min(request_time) AS first_seen,
                 max(request_time) AS last_seen,
                 earliest_ids(request_id, request_time) AS samples
          FROM anonymous_writes GROUP BY ALL) AS x
    JOIN (SELECT dt, bucket, string_agg(DISTINCT operation, ', ' ORDER BY operation)
                 || '; the bucket allows anonymous ' || CASE any_value(allowed)
                        WHEN 'none' THEN 'access by no policy entry'
                        WHEN 'deny' THEN 'nothing'
                        WHEN 'read' THEN 'reads only'
                        ELSE 'writes but not configuration changes' END AS rule
          FROM anonymous_writes GROUP BY dt, bucket) AS r USING (dt, bucket)
    UNION ALL
    -- Credentials that do not work, tried again and again from one address.
    SELECT 'auth_failure_burst', dt, bucket, NULL, remote_ip, count(*), min(request_time),
           max(request_time), earliest_ids(request_id, request_time),
           string_agg(DISTINCT error_code, ', ' ORDER BY error_code), NULL
    FROM win
    WHERE http_status = 403 AND error_code IN (SELECT unnest(string_split(
              setting('auth_failure_burst', 'error_codes'), '|')))
    GROUP BY dt, bucket, remote_ip
    HAVING count(*) >= CAST(setting('auth_failure_burst', 'min_requests') AS INT)
    UNION ALL
    SELECT 'mass_delete', w.dt, w.bucket, w.principal, NULL, count(*), min(w.request_time),
           max(w.request_time), earliest_ids(w.request_id, w.request_time),
           count(*) || ' objects deleted'
               || coalesce('; at most ' || nullif(any_value(k.most_deletes), 0)
                           || ' on a day before', ''), NULL
    FROM win AS w LEFT JOIN usual AS k USING (dt, bucket, principal)
    WHERE w.operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT')
    GROUP BY w.dt, w.bucket, w.principal
    HAVING count(*) >= CAST(setting('mass_delete', 'min_deletes') AS INT)
       AND count(*) > CAST(setting('mass_delete', 'factor') AS DOUBLE)
                      * coalesce(any_value(k.most_deletes), 0)
    UNION ALL
    -- A principal that never got access to the bucket in the lookback days, once the
    -- bucket has enough history to know its principals.
    SELECT 'new_principal', w.dt, w.bucket, w.principal, NULL, w.n, w.first_seen,
           w.last_seen, w.samples, 'first access in ' || CAST($lookback_days AS VARCHAR)
           || ' days', NULL
    FROM principal_days AS w
    WHERE w.principal <> 'anonymous' AND w.granted > 0
      AND (SELECT count(*) FROM bucket_days AS b WHERE b.bucket = w.bucket AND b.dt < w.dt
             AND b.dt >= w.since) >= CAST(setting('baseline', 'min_history_days') AS INT)
      AND NOT EXISTS (SELECT 1 FROM principal_history AS p WHERE p.bucket = w.bucket
                        AND p.principal = w.principal AND p.dt < w.dt AND p.dt >= w.since
                        AND p.granted > 0)
      -- where the policy lists the bucket's principals, it says who is expected: a
      -- listed one is not new, an unlisted one is policy_principal
      AND NOT EXISTS (SELECT 1 FROM entries AS e
                      WHERE e.bucket = w.bucket AND e.has_principals)
    UNION ALL
    -- A known principal from networks it never used on the bucket; high when much data
    -- left through them (credentials used from somewhere else, and used to take data).
    SELECT 'new_network', dt, bucket, principal, network, n, first_seen, last_seen, samples,
           format('first use of {} network{} in {} days; {:.1f} GB sent through {}',
                  networks, CASE WHEN networks > 1 THEN 's' ELSE '' END,
                  CAST($lookback_days AS VARCHAR), sent / 1e9,
                  CASE WHEN networks > 1 THEN 'them' ELSE 'it' END),
           CASE WHEN sent >= CAST(setting('new_network', 'high_bytes') AS BIGINT)
                THEN 'high' END
    FROM (SELECT w.dt, w.bucket, w.principal, w.network, w.n, w.first_seen, w.last_seen,
                 w.samples,
                 count(*) OVER (PARTITION BY w.dt, w.bucket, w.principal) AS networks,
                 sum(w.sent) OVER (PARTITION BY w.dt, w.bucket, w.principal) AS sent
          FROM network_days AS w
          JOIN known AS k USING (dt, bucket, principal)
          WHERE k.age >= CAST(setting('baseline', 'min_history_days') AS INT)
            AND NOT EXISTS (SELECT 1 FROM network_history AS p WHERE p.bucket = w.bucket
                              AND p.principal = w.principal AND p.network = w.network
                              AND p.dt < w.dt AND p.dt >= w.since))
    UNION ALL
    -- Bytes far above the principal's own: its daily average, or the same weekday's most.
    SELECT 'exfiltration', d.dt, d.bucket, d.principal, NULL, d.n, d.first_seen,
           d.last_seen, d.samples, format('{:.1f} GB sent; baseline {:.1f} GB',
           d.sent / 1e9, greatest(coalesce(k.avg_sent, 0), coalesce(k.same_day_sent, 0)) / 1e9),
           NULL
    FROM principal_days AS d JOIN known AS k USING (dt, bucket, principal)
    WHERE d.principal <> 'anonymous'
      AND k.age >= CAST(setting('baseline', 'min_history_days') AS INT)
      AND d.sent >= CAST(setting('exfiltration', 'min_bytes') AS BIGINT)
      AND d.sent > CAST(setting('exfiltration', 'factor') AS DOUBLE)
                   * greatest(coalesce(k.avg_sent, 0), coalesce(k.same_day_sent, 0))
    UNION ALL
    -- A presigned URL used from many addresses: a link shared or leaked beyond whom it was
    -- made for. One finding per signer, bucket and day, however many URLs.
    SELECT 'presigned_shared', x.dt, x.bucket, x.principal, x.remote_ip, x.n,
           x.first_seen, x.last_seen, x.samples, r.rule, NULL
    FROM (SELECT w.dt, w.bucket, w.principal, w.remote_ip, count(*) AS n,
                 min(w.request_time) AS first_seen, max(w.request_time) AS last_seen,
                 earliest_ids(w.request_id, w.request_time) AS samples
          FROM win AS w SEMI JOIN shared AS u
            ON u.dt = w.dt AND u.bucket = w.bucket AND u.principal = w.principal
           AND u.key IS NOT DISTINCT FROM w.presigned_key
           AND u.signed_at IS NOT DISTINCT FROM w.signed_at
          WHERE w.authentication_type = 'QueryString' AND w.http_status < 400
          GROUP BY ALL) AS x
    JOIN (SELECT dt, bucket, principal,
                 max(addresses) || ' addresses used one presigned URL of '
                     || coalesce(arg_max(key, addresses), 'the bucket')
                     || CASE WHEN count(*) > 1 THEN ' (' || count(*) || ' URLs so shared)'
                             ELSE '' END AS rule
          FROM shared GROUP BY dt, bucket, principal) AS r
      USING (dt, bucket, principal)
    UNION ALL
    -- Requests far above the principal's own rhythm (daily average or same weekday).
    -- Anonymous readers with a baseline are a public bucket's audience: a viral day is
    -- low, unless what it costs (GET requests and transfer out at list prices) passes
    -- public_cost_usd.
    SELECT 'request_rate_spike', d.dt, d.bucket, d.principal, NULL, d.n, d.first_seen,
           d.last_seen, d.samples, format('{} requests; baseline {:.0f}', d.n,
           greatest(k.avg_n, coalesce(k.same_day_n, 0)))
               || CASE WHEN d.principal = 'anonymous'
                       THEN format('; about ${:.2f} at list prices', c.usd) ELSE '' END,
           CASE WHEN d.principal = 'anonymous' AND c.usd
                     < CAST(setting('request_rate_spike', 'public_cost_usd') AS DOUBLE)
                THEN 'low' END
    FROM principal_days AS d JOIN known AS k USING (dt, bucket, principal)
    CROSS JOIN LATERAL (
        SELECT d.n / 1000 * max(usd) FILTER (WHERE item = 'tier2')
               + d.sent / 1e9 * max(usd) FILTER (WHERE item = 'transfer_out') AS usd
        FROM prices WHERE effective_to IS NULL AND region = 'us-east-1'
          AND item IN ('tier2', 'transfer_out') AND storage_class IN ('STANDARD', 'ALL')
    ) AS c
    WHERE k.age >= CAST(setting('baseline', 'min_history_days') AS INT)
      AND d.n >= CAST(setting('request_rate_spike', 'min_requests') AS INT)
      AND d.n > CAST(setting('request_rate_spike', 'factor') AS DOUBLE)
                * greatest(k.avg_n, coalesce(k.same_day_n, 0))
    UNION ALL
    SELECT 'enumeration', dt, bucket, principal, remote_ip, n, first_seen, last_seen, samples,
           not_found || ' missing keys, ' || listings || ' listings', NULL
    FROM (SELECT w.dt, w.bucket, w.principal, w.remote_ip, count(*) AS n,
                 min(w.request_time) AS first_seen, max(w.request_time) AS last_seen,
                 earliest_ids(w.request_id, w.request_time) AS samples,
                 count(*) FILTER (WHERE w.error_code = 'NoSuchKey') AS not_found,
                 count(*) FILTER (WHERE w.operation IN ('REST.GET.BUCKET',
                                                        'REST.GET.BUCKETVERSIONS'))
                     AS listings,
                 coalesce(any_value(k.most_not_found), 0) AS usual_not_found,
                 coalesce(any_value(k.most_listings), 0) AS usual_listings
          FROM win AS w LEFT JOIN usual AS k USING (dt, bucket, principal)
          WHERE (w.http_status = 404 AND w.error_code = 'NoSuchKey')
                OR w.operation IN ('REST.GET.BUCKET', 'REST.GET.BUCKETVERSIONS')
          GROUP BY w.dt, w.bucket, w.principal, w.remote_ip)
    WHERE (not_found >= CAST(setting('enumeration', 'min_not_found') AS INT)
           AND not_found > CAST(setting('enumeration', 'factor') AS DOUBLE) * usual_not_found)
       OR (listings >= CAST(setting('enumeration', 'min_lists') AS INT)
           AND listings > CAST(setting('enumeration', 'factor') AS DOUBLE) * usual_listings)
    UNION ALL
    SELECT 'config_change', x.dt, x.bucket, x.principal, x.remote_ip, x.n, x.first_seen,
           x.last_seen, x.samples, r.rule, r.severity
    FROM (SELECT dt, bucket, principal, remote_ip, count(*) AS n,
                 min(request_time) AS first_seen, max(request_time) AS last_seen,
                 earliest_ids(request_id, request_time) AS samples
          FROM config_changes GROUP BY ALL) AS x
    JOIN (SELECT dt, bucket, principal,
                 string_agg(DISTINCT kind || ' (' || operation || ')', ', ') AS rule,
                 -- the most severe of the operations
                 ['info', 'low', 'medium', 'high'][max(list_position(
                     ['info', 'low', 'medium', 'high'], severity))] AS severity
          FROM config_changes GROUP BY dt, bucket, principal) AS r
      ON r.dt = x.dt AND r.bucket = x.bucket AND r.principal IS NOT DISTINCT FROM x.principal
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
           earliest_ids(w.request_id, w.request_time),
           'listed: ' || any_value(l.cidr) || coalesce(' ' || nullif(any_value(l.label), ''),
                                                       ''), NULL
    FROM win AS w JOIN listed AS l USING (remote_ip)
    GROUP BY w.dt, w.bucket, w.principal, w.remote_ip
    UNION ALL
    -- Access the policy file does not allow, grouped so each finding is one thing to check.
    SELECT v.detection, v.dt, v.bucket, v.who, v.source, count(*), min(v.request_time),
           max(v.request_time), earliest_ids(v.request_id, v.request_time),
           'policy entry ' || any_value(v.policy_entry) || ': ' || any_value(CASE v.detection
               WHEN 'policy_anonymous' THEN 'anonymous access is denied'
               WHEN 'policy_principal' THEN 'principal not allowed (or read-only)'
               WHEN 'policy_network' THEN 'network not allowed'
               ELSE 'TLS below ' || v.min_tls END), NULL
    FROM (SELECT *,
                 CASE WHEN detection = 'policy_anonymous' THEN 'anonymous' ELSE principal
                 END AS who,
                 CASE WHEN detection = 'policy_network' THEN network_of(remote_ip)
                      ELSE remote_ip END AS source
          FROM (SELECT *, unnest(violations) AS detection
                FROM policy_checked($start_date, $end_date))) AS v
    GROUP BY v.detection, v.dt, v.bucket, v.who, v.source
    UNION ALL
    -- The request-level detections, each request counted once per detection it matches.
    SELECT detection, dt, bucket, principal, remote_ip, count(*), min(request_time),
           max(request_time), earliest_ids(request_id, request_time), NULL, NULL
    FROM tagged GROUP BY ALL
    UNION ALL
    -- AWS's own lifecycle deletions: reported so they are not mistaken for someone's.
    SELECT 'lifecycle_expirations', dt, bucket, principal, NULL, count(*),
           min(request_time), max(request_time),
           earliest_ids(request_id, request_time),
           count(*) || ' objects expired', NULL
    FROM day_rows
    WHERE operation IN ('S3.EXPIRE.OBJECT', 'S3.CREATE.DELETEMARKER')
    GROUP BY dt, bucket, principal
),
-- Each part's severity: the policy file's for the detection, else the part's own, else the
-- detection's setting.
parts AS (
    SELECT f.*, coalesce((SELECT s.severity FROM policy_severities AS s
                          WHERE s.detection = f.detection),
                         f.severity, setting(f.detection, 'severity')) AS part_severity
    FROM findings AS f
),
-- One finding per bucket, day, detection and principal: its evidence and words are its
-- busiest part's, its severity the worst part's.
grouped AS (
    SELECT dt, bucket, detection, principal,
           ['info', 'low', 'medium', 'high'][max(list_position(
               ['info', 'low', 'medium', 'high'], part_severity))] AS severity,
           list_slice(list_filter(
                          list({'address': source, 'requests': CAST(n AS BIGINT)}
                               ORDER BY n DESC, source),
                          lambda a: a.address IS NOT NULL),
                      1, CAST(setting('finding', 'max_addresses') AS INT)) AS addresses,
           count(source) AS address_count,
           CAST(sum(n) AS BIGINT) AS request_count, min(first_seen) AS first_seen,
           max(last_seen) AS last_seen,
           arg_max(samples, {'n': n, 's': coalesce(source, '')}) AS sample_request_ids,
           arg_max(rule, {'n': n, 's': coalesce(source, '')}) AS rule
    FROM parts GROUP BY dt, bucket, detection, principal
)
SELECT dt, bucket, detection, severity, principal, addresses, address_count,
       CASE WHEN address_count > 0 THEN array_to_string(list_transform(
                addresses[1:3], lambda a: a.address || ' (' || a.requests || ')'), ', ')
                || CASE WHEN address_count > 3
                        THEN ' and ' || (address_count - 3) || ' more' ELSE '' END
       END AS sources,
       request_count, first_seen, last_seen, sample_request_ids, rule
FROM grouped
