-- Athena (or any Hive-metastore engine: Trino, Spark) table over the s3logs lake, with
-- partition projection: no crawler, no MSCK REPAIR, new days are queryable at once.
-- Replace s3://YOUR-LAKE-BUCKET/s3logs with the lake root (S3LOGS_LAKE). `dt` is projected
-- as a date; `bucket` is injected, so queries name the bucket(s) they read, e.g.
--   SELECT count(*) FROM s3logs.access_logs WHERE bucket = 'shop-assets'
--     AND dt BETWEEN '2026-11-01' AND '2026-11-30';
CREATE EXTERNAL TABLE IF NOT EXISTS s3logs.access_logs (
  `bucket_owner` string COMMENT 'Canonical user ID of the owner of the source bucket.',
  `request_time` timestamp COMMENT 'Time the request was received, converted to UTC from the logged offset.',
  `remote_ip` string COMMENT 'Apparent IPv4 or IPv6 address of the requester; null for requests made by S3 itself (lifecycle, log delivery).',
  `requester` string COMMENT 'Canonical user ID, IAM/STS ARN or service principal of the requester; null for anonymous requests.',
  `request_id` string COMMENT 'S3 request ID. Not unique per record: a copy or a multi-object delete logs several records with one request ID.',
  `operation` string COMMENT 'SOAP.op, REST.METHOD.resource, WEBSITE.METHOD.resource, BATCH.DELETE.OBJECT or S3.action.resource (lifecycle).',
  `key` string COMMENT 'Object key exactly as logged: URL-encoded, but not consistently, so it is kept raw; views offer a decoded column.',
  `request_uri` string COMMENT 'The HTTP request line without its quotes, e.g. `GET /bucket/key HTTP/1.1`.',
  `http_status` smallint COMMENT 'Numeric HTTP status; null when not logged (lifecycle records).',
  `error_code` string COMMENT 'S3 error code such as NoSuchKey; null on success.',
  `bytes_sent` bigint COMMENT 'Response bytes sent, excluding HTTP headers. AWS logs `-` for zero, so it is 0, never null, when the field is present.',
  `object_size` bigint COMMENT 'Total size of the object in bytes.',
  `total_time_ms` bigint COMMENT 'Milliseconds the request was in flight from the servers perspective.',
  `turnaround_time_ms` bigint COMMENT 'Milliseconds S3 spent between the last byte of the request and the first byte of the response.',
  `referer` string COMMENT 'HTTP Referer header without its quotes.',
  `user_agent` string COMMENT 'HTTP User-Agent header without its quotes.',
  `version_id` string COMMENT 'Version ID in the request (or, for lifecycle expirations, of the expired version).',
  `host_id` string COMMENT 'x-amz-id-2 extended request ID.',
  `signature_version` string COMMENT 'SigV2 or SigV4; null for unauthenticated requests.',
  `cipher_suite` string COMMENT 'TLS cipher suite; null for plain HTTP.',
  `authentication_type` string COMMENT 'AuthHeader, or QueryString for presigned URLs; null for unauthenticated requests.',
  `host_header` string COMMENT 'Endpoint host name used to reach S3.',
  `tls_version` string COMMENT 'TLSv1.1, TLSv1.2 or TLSv1.3 as logged (AWSs own examples write TLSV1.2: compare case-insensitively); null for plain HTTP.',
  `access_point_arn` string COMMENT 'ARN of the access point the request used.',
  `acl_required` boolean COMMENT 'True when an ACL was required to authorize the request; null in records older than the field (before late 2022).',
  `source_region` string COMMENT 'AWS Region the request came from (field added 2026).',
  `extra_fields` array<string> COMMENT 'Trailing fields beyond the 27 known ones, raw and in order (AWS appends new fields at the end); empty for known layouts.',
  `field_count` tinyint COMMENT 'Number of fields on the line: tells the format generation (18, 24, 25, 26, 27, more when AWS adds fields).',
  `source_key` string COMMENT 'Key (or path) of the log object the record was read from.',
  `line_number` int COMMENT '1-based line number of the record in its log object (blank lines count).',
  `utf8_repaired` boolean COMMENT 'True when the line held bytes that are not valid UTF-8: each invalid sequence was replaced by U+FFFD, the rest kept.',
  `record_id` binary COMMENT 'XXH3-128 of the raw line (without its line ending): the same record delivered twice has the same id, so duplicates can be dropped.'
)
PARTITIONED BY (`dt` string, `bucket` string)
STORED AS PARQUET
LOCATION 's3://YOUR-LAKE-BUCKET/s3logs/access_logs/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2006-03-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'projection.bucket.type' = 'injected',
  'storage.location.template' = 's3://YOUR-LAKE-BUCKET/s3logs/access_logs/dt=${dt}/bucket=${bucket}/'
);
