MODEL (
  name errors_by_day,
  kind MACRO,
  description 'errors_by_day(bucket): requests, 4xx and 5xx per day for a bucket.'
);
CREATE OR REPLACE MACRO errors_by_day(bucket_name) AS TABLE
    SELECT dt, count(*) AS requests, count(*) FILTER (WHERE http_status BETWEEN 400 AND 499)
           AS errors_4xx, count(*) FILTER (WHERE http_status >= 500) AS errors_5xx
    FROM access_logs WHERE bucket = bucket_name GROUP BY dt ORDER BY dt;
