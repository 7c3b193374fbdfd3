MODEL (
  name request_tier,
  kind MACRO,
  engines (duckdb, spark, trino),
  description 'request_tier(operation): how S3 bills a logged request: tier1 (PUT, COPY, POST, LIST), tier2 (GET, HEAD, SELECT, OPTIONS and the rest), free (DELETE, CANCEL) or system (records that are not separate billed requests: lifecycle, the source side of a copy, the per-key lines of a multi-object delete).'
);
CREATE OR REPLACE MACRO request_tier(operation) AS CASE
    WHEN operation IS NULL THEN 'tier2'
    WHEN operation LIKE 'S3.%' OR operation IN ('REST.COPY.OBJECT_GET', 'REST.COPY.PART_GET',
                                                 'BATCH.DELETE.OBJECT') THEN 'system'
    WHEN split_part(operation, '.', 2) = 'DELETE' THEN 'free'
    WHEN split_part(operation, '.', 2) IN ('PUT', 'POST', 'COPY') THEN 'tier1'
    WHEN operation IN ('REST.GET.BUCKET', 'REST.GET.BUCKETVERSIONS', 'REST.GET.UPLOADS',
                       'REST.GET.UPLOAD', 'REST.GET.LISTOBJECTSV2') THEN 'tier1'
    ELSE 'tier2'
END;
