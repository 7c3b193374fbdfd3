MODEL (
  name billed_requests,
  kind MACRO,
  engines (duckdb, spark),
  description 'billed_requests(first_day, last_day): each record of those days with what billing needs: whether S3 bills it (billed) and whether its bytes went to the internet (to_internet). The one place the billing rules live; billing_daily and transfer_out_daily read it.'
);
-- Rules: system records are not billed; 5xx are not billed; since 2024-05-13 a 403
-- AccessDenied from outside the bucket owner's account is not billed (requests or bytes):
-- anonymous requests, or an account other than the owner's in bucket_accounts.csv.
-- Transfer out counts bytes sent to non-AWS clients (an estimate: logs do not say whether
-- an address is inside AWS).
CREATE OR REPLACE MACRO billed_requests(first_day, last_day) AS TABLE
SELECT
    l.dt, l.bucket, l.bucket_owner, coalesce(l.requester, 'anonymous') AS requester,
    l.role_name, coalesce(l.key_prefix, '(no key)') AS key_prefix, l.request_tier,
    coalesce(l.bytes_sent, 0) AS bytes_sent,
    NOT (l.request_tier = 'system'
         OR coalesce(l.http_status, 0) >= 500
         OR (l.http_status = 403 AND l.error_code = 'AccessDenied' AND l.dt >= '2024-05-13'
             AND (l.requester_type = 'anonymous'
                  OR (l.requester_account IS NOT NULL AND a.account_id IS NOT NULL
                      AND l.requester_account <> a.account_id)))) AS billed,
    l.requester_type <> 'aws_service' AND l.remote_ip IS NOT NULL
        AND NOT coalesce(is_private_address(l.remote_ip), false) AS to_internet
FROM access_logs AS l
LEFT JOIN bucket_accounts AS a ON a.bucket = l.bucket
WHERE l.dt BETWEEN first_day AND last_day
