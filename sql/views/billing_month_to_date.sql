MODEL (
  name billing_month_to_date,
  kind VIEW,
  description 'Month-to-date estimated cost per bucket: each day''s running total since the first of its month (request cost, transfer out, both), from billing_daily.',
  column_descriptions (
    dt = 'UTC day.',
    bucket = 'Source bucket.',
    request_cost_usd = 'Estimated request cost of the day in USD.',
    transfer_out_cost_usd = 'Estimated transfer out cost of the day in USD.',
    mtd_request_cost_usd = 'Request cost from the first of the month to this day.',
    mtd_transfer_out_cost_usd = 'Transfer out cost from the first of the month to this day.',
    mtd_total_usd = 'Both, from the first of the month to this day.'
  )
);
SELECT dt, bucket, request_cost_usd, transfer_out_cost_usd,
       sum(request_cost_usd) OVER month AS mtd_request_cost_usd,
       sum(transfer_out_cost_usd) OVER month AS mtd_transfer_out_cost_usd,
       sum(request_cost_usd + transfer_out_cost_usd) OVER month AS mtd_total_usd
FROM (SELECT dt, bucket, sum(request_cost_usd) AS request_cost_usd,
             sum(transfer_out_cost_usd) AS transfer_out_cost_usd
      FROM billing_daily GROUP BY dt, bucket)
WINDOW month AS (PARTITION BY bucket, substr(dt, 1, 7) ORDER BY dt
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
