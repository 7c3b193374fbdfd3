MODEL (
  name audit_access,
  kind QUERY,
  description 'Who accessed what, from where, with what result: every request to a bucket (a key glob: one key, or the keys under a prefix; a principal glob) over a range of days, with request ids an auditor can keep and the access-policy rules each request broke (s3logs audit).',
  parameters (bucket = '*', key_glob = '*', principal = '*'),
  column_descriptions (
    request_time = 'When (UTC).',
    principal = 'Who: the requester (an assumed role without its session name), or anonymous.',
    requester = 'The requester exactly as logged (with the role session name).',
    remote_ip = 'From where.',
    operation = 'What was done.',
    key = 'On which object (as logged, URL-encoded).',
    http_status = 'The answer.',
    error_code = 'The error, if any.',
    bytes_sent = 'Bytes sent back.',
    user_agent = 'With what client.',
    request_id = 'S3 request id: evidence to quote.',
    policy_violations = 'Rules of the access policy file the request broke (empty: none, or no policy covers the bucket).'
  )
);
WITH requests AS (
    SELECT * FROM access_logs
    WHERE dt BETWEEN $start_date AND $end_date AND bucket GLOB $bucket
      AND (key_decoded GLOB $key_glob OR ($key_glob = '*' AND key IS NULL))
      AND (principal GLOB $principal OR coalesce(requester, 'anonymous') GLOB $principal)
),
checked AS (
    SELECT record_id, violations
    FROM policy_checked($start_date, $end_date)
    WHERE bucket GLOB $bucket
)
SELECT r.request_time, r.principal, r.requester, r.remote_ip, r.operation, r.key,
       r.http_status, r.error_code, r.bytes_sent, r.user_agent, r.request_id,
       coalesce(c.violations, CAST([] AS VARCHAR[])) AS policy_violations
FROM requests AS r
LEFT JOIN checked AS c USING (record_id)
ORDER BY r.request_time, r.request_id
