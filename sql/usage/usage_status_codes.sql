-- usage_status_codes: the distribution of HTTP status and S3 error codes per day and bucket.
SELECT dt, bucket, http_status, error_code, count(*) AS requests
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
ORDER BY dt, bucket, http_status NULLS FIRST, error_code NULLS FIRST
