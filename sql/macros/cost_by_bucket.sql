MODEL (
  name cost_by_bucket,
  kind MACRO,
  description 'cost_by_bucket(from_dt, to_dt): estimated request, transfer out and total cost per bucket over a range of days, most expensive first.'
);
CREATE OR REPLACE MACRO cost_by_bucket(from_dt, to_dt) AS TABLE
    SELECT bucket, sum(request_cost_usd) AS request_cost_usd,
           sum(transfer_out_cost_usd) AS transfer_out_cost_usd,
           sum(request_cost_usd + transfer_out_cost_usd) AS total_usd
    FROM billing_daily WHERE dt BETWEEN from_dt AND to_dt
    GROUP BY bucket ORDER BY total_usd DESC;
