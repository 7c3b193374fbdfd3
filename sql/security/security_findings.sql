MODEL (
  name security_findings,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, detection, principal),
  window (all),
  nullable (principal),
  audits (
    not_null (dt, bucket, detection, severity, status, first_detected, finding_id, suppressed),
    accepted_values (severity, ('info', 'low', 'medium', 'high')),
    accepted_values (status, ('new', 'ongoing'))
  ),
  description 'One row per finding and day, with its lifecycle: new or ongoing, the day it was first detected, a stable id (what alerts deduplicate on) and whether a suppression in the policy file covers it. The findings themselves come from security_detections.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    detection = 'Which detection fired.',
    severity = 'info, low, medium or high.',
    principal = 'Who (an assumed role without its session name), or anonymous; null for findings about an address or a bucket.',
    addresses = 'From where: the addresses (or networks) involved, each with its requests, the busiest first.',
    address_count = 'How many addresses or networks are involved (addresses may hold fewer).',
    sources = 'The addresses in words: the busiest three with their requests, and how many more.',
    request_count = 'Requests in the finding.',
    first_seen = 'First request of the finding that day.',
    last_seen = 'Last request of the finding that day.',
    sample_request_ids = 'Up to three request ids as evidence.',
    rule = 'What was broken or seen, in words.',
    status = 'new: first day of this finding; ongoing: it was also found on a day shortly before (within ongoing_gap_days).',
    first_detected = 'The day this finding was first detected (YYYY-MM-DD), across days.',
    finding_id = 'Stable id of the finding (detection, bucket, principal, first day): the same across its ongoing days, re-runs and backfills.',
    suppressed = 'True when a suppression in the policy file covers it (one with a network covers a finding whose every address is in it): kept visible, never alerted.',
    suppression_reason = 'Why it is suppressed, as the policy file says, with the expiry.'
  )
);
-- A finding is one detection about one (bucket, principal) on consecutive days,
-- allowing gaps of up to ongoing_gap_days. Its first day is found over the whole history
-- of detections (which is small), so it does not depend on which days a run covers.
WITH history AS (
    SELECT * FROM security_detections WHERE dt <= $end_date
),
wanted AS (
    SELECT DISTINCT detection, bucket, principal FROM history
    WHERE dt BETWEEN $start_date AND $end_date
),
chain AS (
    SELECT h.*,
           CASE WHEN CAST(h.dt AS DATE) - CAST(lag(h.dt) OVER w AS DATE)
                     <= CAST(setting('finding', 'ongoing_gap_days') AS INT)
                THEN NULL ELSE h.dt END AS streak_start
    FROM history AS h
    SEMI JOIN wanted AS k
        ON h.detection = k.detection AND h.bucket = k.bucket
       AND h.principal IS NOT DISTINCT FROM k.principal
    WINDOW w AS (PARTITION BY h.detection, h.bucket, h.principal ORDER BY h.dt)
),
found AS (
    SELECT *, max(streak_start) OVER (PARTITION BY detection, bucket, principal
                                      ORDER BY dt ROWS UNBOUNDED PRECEDING) AS first_detected
    FROM chain
),
suppression AS (  -- the first suppression (by position) that covers each finding
    SELECT f.dt, f.detection, f.bucket, f.principal,
           s.reason || ' (until ' || strftime(s.expires, '%Y-%m-%d') || ')' AS reason
    FROM found AS f JOIN policy_suppressions AS s
      ON (s.detection IS NULL OR f.detection GLOB s.detection)
     AND (s.bucket_pattern IS NULL OR f.bucket GLOB s.bucket_pattern)
     AND (s.principal IS NULL OR coalesce(f.principal, '') GLOB s.principal)
     -- a network covers a finding whose every address it holds (all of them listed)
     AND (s.lo IS NULL OR (f.address_count > 0 AND f.address_count = len(f.addresses)
                           AND list_bool_and(list_transform(f.addresses, lambda a:
                               ip_key(split_part(a.address, '/', 1)) BETWEEN s.lo AND s.hi))))
     AND CAST(f.dt AS DATE) <= s.expires
    WHERE f.dt BETWEEN $start_date AND $end_date
    QUALIFY row_number() OVER (PARTITION BY f.dt, f.detection, f.bucket, f.principal
                               ORDER BY s.position) = 1
)
SELECT f.dt, f.bucket, f.detection, f.severity, f.principal, f.addresses, f.address_count,
       f.sources, f.request_count, f.first_seen, f.last_seen, f.sample_request_ids, f.rule,
       CASE WHEN f.dt = f.first_detected THEN 'new' ELSE 'ongoing' END AS status,
       f.first_detected,
       -- the '-' stood for the address when findings were per address: kept, so the ids
       -- of findings about a principal did not change when they became per principal
       left(md5(concat_ws('|', f.detection, f.bucket, coalesce(f.principal, '-'), '-',
                          f.first_detected)), 16) AS finding_id,
       s.reason IS NOT NULL AS suppressed, s.reason AS suppression_reason
FROM found AS f
LEFT JOIN suppression AS s
    ON s.dt = f.dt AND s.detection = f.detection AND s.bucket = f.bucket
   AND s.principal IS NOT DISTINCT FROM f.principal
WHERE f.dt BETWEEN $start_date AND $end_date
