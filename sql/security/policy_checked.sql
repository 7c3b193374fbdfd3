MODEL (
  name policy_checked,
  kind MACRO,
  description 'policy_checked(first_day, last_day): each request of those days to a bucket the access policy file covers, with the policy entry that governs it and the rules it breaks (violations: policy_anonymous for anonymous reads, policy_principal, policy_network (not for presigned URLs), policy_tls; anonymous writes are security_detections'' anonymous_write). AWS''s own traffic never violates; requests that failed did not get the access, so they do not either.'
);
CREATE OR REPLACE MACRO policy_checked(first_day, last_day) AS TABLE
WITH requests AS (
    SELECT * FROM access_logs WHERE dt BETWEEN first_day AND last_day
),
-- Each address once through ip_key (a Python function), not each request.
addresses AS (
    SELECT remote_ip, ip_key(remote_ip) AS ip
    FROM (SELECT DISTINCT remote_ip FROM requests WHERE remote_ip IS NOT NULL)
),
governed AS (
    SELECT r.*, e.bucket_pattern AS policy_entry, e.anonymous AS anonymous_policy,
           e.min_tls, e.has_principals, e.has_networks, a.ip,
           coalesce(r.http_status < 400, false) AS granted,
           coalesce(r.http_method IN ('GET', 'HEAD'), false) AS reads,
           try_cast(regexp_extract(lower(r.tls_version), 'tlsv([0-9.]+)', 1) AS DOUBLE) AS tls
    FROM requests AS r JOIN policy_entries(first_day, last_day) AS e USING (bucket)
    LEFT JOIN addresses AS a USING (remote_ip)
    WHERE NOT r.is_aws_service
),
-- Each (entry, requester, read or not) and (entry, address) is checked against the lists
-- once, not once per request.
principals AS (
    SELECT k.*, EXISTS (SELECT 1 FROM policy_principals AS pp
                        WHERE pp.bucket_pattern = k.policy_entry
                          AND k.requester GLOB pp.principal
                          AND (NOT pp.read_only OR k.reads)) AS allowed
    FROM (SELECT DISTINCT policy_entry, requester, reads FROM governed
          WHERE granted AND requester IS NOT NULL AND has_principals) AS k
),
networks AS (
    SELECT k.*, EXISTS (SELECT 1 FROM policy_networks AS pn
                        WHERE pn.bucket_pattern = k.policy_entry
                          AND k.ip BETWEEN pn.lo AND pn.hi) AS allowed
    FROM (SELECT DISTINCT policy_entry, ip FROM governed
          WHERE granted AND requester IS NOT NULL AND has_networks) AS k
)
SELECT g.* EXCLUDE (ip, granted, reads, tls), list_filter([
    -- anonymous writes, deletes and changes are anonymous_write's, with or without a file
    CASE WHEN g.granted AND g.requester IS NULL AND g.anonymous_policy = 'deny'
              AND access_kind(g.operation) = 'read'
         THEN 'policy_anonymous' END,
    CASE WHEN g.granted AND g.requester IS NOT NULL AND g.has_principals AND NOT p.allowed
         THEN 'policy_principal' END,
    -- a presigned URL is used by whoever holds it (presigned_shared watches those)
    -- where from matters only for a principal the entry allows: an unlisted one is
    -- policy_principal already, one finding for one intruder
    CASE WHEN g.granted AND g.requester IS NOT NULL AND g.has_networks AND NOT n.allowed
              AND g.authentication_type IS DISTINCT FROM 'QueryString'
              AND NOT (g.has_principals AND NOT p.allowed)
         THEN 'policy_network' END,
    -- lines older than the TLS field (24 fields) cannot tell; website endpoints are HTTP
    CASE WHEN g.granted AND g.min_tls IS NOT NULL AND g.field_count >= 24
              AND NOT starts_with(g.operation, 'WEBSITE.') AND coalesce(g.tls, 0) < g.min_tls
         THEN 'policy_tls' END
], lambda v: v IS NOT NULL) AS violations
FROM governed AS g
LEFT JOIN principals AS p ON p.policy_entry = g.policy_entry AND p.requester = g.requester
                         AND p.reads = g.reads
LEFT JOIN networks AS n ON n.policy_entry = g.policy_entry
                       AND n.ip IS NOT DISTINCT FROM g.ip;
