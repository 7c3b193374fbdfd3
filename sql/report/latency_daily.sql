MODEL (
  name latency_daily,
  kind QUERY,
  description 'Total time percentiles per day over every request, for the report''s latency chart.',
  column_descriptions (
    dt = 'UTC day.',
    total_p50 = 'Median total time in milliseconds.',
    total_p95 = '95th percentile of total time in milliseconds.',
    total_p99 = '99th percentile of total time in milliseconds.'
  )
);
SELECT dt,
       quantile_cont(total_time_ms, 0.50) AS total_p50,
       quantile_cont(total_time_ms, 0.95) AS total_p95,
       quantile_cont(total_time_ms, 0.99) AS total_p99
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date AND total_time_ms IS NOT NULL
GROUP BY dt
ORDER BY dt
