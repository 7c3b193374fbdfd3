MODEL (
  name cost_by,
  kind MACRO,
  description 'cost_by(dimension, from_dt, to_dt): estimated cost attributed per bucket, requester, role or prefix (dimension) over a range of days.'
);
CREATE OR REPLACE MACRO cost_by(dimension, from_dt, to_dt) AS TABLE
    SELECT CASE dimension WHEN 'requester' THEN requester WHEN 'role' THEN role_name
                          WHEN 'prefix' THEN bucket || '/' || key_prefix ELSE bucket END
               AS attributed_to,
           sum(request_cost_usd) AS request_cost_usd,
           sum(transfer_out_cost_usd) AS transfer_out_cost_usd,
           sum(request_cost_usd + transfer_out_cost_usd) AS total_usd
    FROM billing_daily WHERE dt BETWEEN from_dt AND to_dt
    GROUP BY ALL ORDER BY total_usd DESC;
