MODEL (
  name access_logs,
  kind VIEW,
  engines (duckdb, spark, trino),
  description 'Every request in the lake with derived columns for analysis. One row per record_id in each (dt, bucket) partition: the lake writer keeps each record once and the unique_record_ids check guards it. dt is the UTC event date, bucket the source bucket (the lake''s partitions).',
  column_descriptions (
    http_method = 'HTTP method, from the request line (or the operation).',
    key_decoded = 'The key URL-decoded (%XX sequences; a + stays a +, a % that starts no escape stays). Never an error: where the escapes are not UTF-8 (%FF), each invalid sequence is U+FFFD and the rest is decoded, the same text on DuckDB, Spark and Trino (url_decode_lossy).',
    key_prefix = 'The key''s first path segment with its slash (the key itself if flat).',
    requester_type = 'anonymous, iam_user, assumed_role, iam_root, aws_service, canonical_user or other.',
    requester_account = 'AWS account id in the requester ARN.',
    role_name = 'IAM role name, for assumed-role requesters.',
    principal = 'Who made the request, as baselines and policies see it: the requester, an assumed role without its session name (arn:aws:sts::ACCOUNT:assumed-role/ROLE), or anonymous.',
    is_aws_service = 'AWS''s own traffic, by what a client cannot claim (the AmazonS3 and svc: requesters, service-linked roles, no remote address): never a security finding except lifecycle_expirations.',
    is_error = 'True for HTTP status 400 and above.',
    request_tier = 'How S3 bills the request: tier1, tier2, free or system.'
  )
);
SELECT
    *,
    coalesce(nullif(split_part(request_uri, ' ', 1), ''),
             nullif(split_part(operation, '.', 2), '')) AS http_method,
    url_decode_lossy(key) AS key_decoded,
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
    CASE WHEN requester IS NULL THEN 'anonymous'
         ELSE regexp_replace(requester,
                             '^(arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/[^/]+)/.*$', '\1')
    END AS principal,
    -- only what a client cannot claim: the requester S3 logs, and no remote address (never
    -- the user agent, which the client chooses, nor a user name that ends in a domain)
    coalesce(requester = 'AmazonS3' OR requester LIKE 'svc:%'
             OR (requester LIKE '%.amazonaws.com' AND requester NOT LIKE 'arn:%')
             OR regexp_matches(requester,
                               '^arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/AWSServiceRole[^/]*/')
             OR (remote_ip IS NULL AND requester IS NOT NULL), false) AS is_aws_service,
    coalesce(http_status >= 400, false) AS is_error,
    request_tier(operation) AS request_tier
FROM lake_access_logs
