-- Every request in the lake with derived columns for analysis. One row per record_id: the
-- lake writer keeps each record once per (dt, bucket) partition and the unique_record_ids
-- check guards it. dt = UTC event date, bucket = source bucket (the lake's partitions).
CREATE OR REPLACE VIEW access_logs AS
SELECT
    *,
    coalesce(nullif(split_part(request_uri, ' ', 1), ''),
             nullif(split_part(operation, '.', 2), '')) AS http_method,
    CASE WHEN key IS NOT NULL THEN url_decode(key) END AS key_decoded,
    CASE WHEN key LIKE '%/%' THEN split_part(key, '/', 1) || '/' ELSE key END AS key_prefix,
    CASE
        WHEN requester IS NULL THEN 'anonymous'
        WHEN requester LIKE 'arn:aws%:sts::%:assumed-role/%' THEN 'assumed_role'
        WHEN requester LIKE 'arn:aws%:iam::cloudfront:user/%' THEN 'aws_service'
        WHEN requester LIKE 'arn:aws%:iam::%:user/%' THEN 'iam_user'
        WHEN requester LIKE 'arn:aws%:iam::%:root' THEN 'iam_root'
        WHEN requester = 'AmazonS3' OR requester LIKE 'svc:%'
             OR requester LIKE '%.amazonaws.com' THEN 'aws_service'
        WHEN regexp_full_match(requester, '[0-9a-f]{64}') THEN 'canonical_user'
        ELSE 'other'
    END AS requester_type,
    nullif(regexp_extract(requester, '^arn:aws[a-z-]*:(?:iam|sts)::([0-9]{12}):', 1), '')
        AS requester_account,
    nullif(regexp_extract(requester, 'assumed-role/([^/]+)/', 1), '') AS role_name,
    coalesce(http_status >= 400, false) AS is_error,
    request_tier(operation) AS request_tier
FROM lake_access_logs;
