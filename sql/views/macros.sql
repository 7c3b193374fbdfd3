-- Table macros that make common questions one line, e.g.
--   SELECT * FROM top_requesters('shop-assets', '2026-11-16', '2026-11-22');
CREATE OR REPLACE MACRO top_requesters(bucket_name, from_dt, to_dt) AS TABLE
    SELECT coalesce(requester, 'anonymous') AS requester, count(*) AS requests,
           count(*) FILTER (WHERE is_error) AS errors, sum(bytes_sent) AS bytes_sent
    FROM access_logs
    WHERE bucket = bucket_name AND dt BETWEEN from_dt AND to_dt
    GROUP BY ALL ORDER BY requests DESC LIMIT 20;
CREATE OR REPLACE MACRO errors_by_day(bucket_name) AS TABLE
    SELECT dt, count(*) AS requests, count(*) FILTER (WHERE http_status BETWEEN 400 AND 499)
           AS errors_4xx, count(*) FILTER (WHERE http_status >= 500) AS errors_5xx
    FROM access_logs WHERE bucket = bucket_name GROUP BY dt ORDER BY dt;
CREATE OR REPLACE MACRO cost_by_bucket(from_dt, to_dt) AS TABLE
    SELECT bucket, sum(request_cost_usd) AS request_cost_usd,
           sum(transfer_out_cost_usd) AS transfer_out_cost_usd,
           sum(request_cost_usd + transfer_out_cost_usd) AS total_usd
    FROM billing_daily WHERE dt BETWEEN from_dt AND to_dt
    GROUP BY bucket ORDER BY total_usd DESC;
CREATE OR REPLACE MACRO requests_for_key(key_like) AS TABLE
    SELECT request_time, bucket, operation, key, http_status, requester, remote_ip
    FROM access_logs WHERE key LIKE key_like OR key_decoded LIKE key_like
    ORDER BY request_time;
CREATE OR REPLACE MACRO findings_at_least(min_severity) AS TABLE
    SELECT * FROM security_findings
    WHERE list_position(['info', 'low', 'medium', 'high'], severity)
          >= list_position(['info', 'low', 'medium', 'high'], min_severity)
    ORDER BY dt DESC, severity DESC, request_count DESC;
CREATE OR REPLACE MACRO cost_by(dimension, from_dt, to_dt) AS TABLE
    SELECT CASE dimension WHEN 'requester' THEN requester WHEN 'role' THEN role_name
                          WHEN 'prefix' THEN bucket || '/' || key_prefix ELSE bucket END
               AS attributed_to,
           sum(request_cost_usd) AS request_cost_usd,
           sum(transfer_out_cost_usd) AS transfer_out_cost_usd,
           sum(request_cost_usd + transfer_out_cost_usd) AS total_usd
    FROM billing_daily WHERE dt BETWEEN from_dt AND to_dt
    GROUP BY ALL ORDER BY total_usd DESC;
