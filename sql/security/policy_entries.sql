MODEL (
  name policy_entries,
  kind MACRO,
  description 'policy_entries(first_day, last_day): each bucket with records on those days that the access policy file covers, with the entry that governs it (the first, by position, whose name or glob matches).'
);
CREATE OR REPLACE MACRO policy_entries(first_day, last_day) AS TABLE
SELECT b.bucket, p.*
FROM (SELECT DISTINCT bucket FROM access_logs WHERE dt BETWEEN first_day AND last_day) AS b
JOIN policy_buckets AS p ON b.bucket GLOB p.bucket_pattern
QUALIFY row_number() OVER (PARTITION BY b.bucket ORDER BY p.position) = 1;
