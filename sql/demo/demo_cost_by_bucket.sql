MODEL (
  name demo_cost_by_bucket,
  kind QUERY,
  description 'Estimated cost by bucket (USD)',
  column_descriptions (
    bucket = 'Source bucket.',
    request_cost_usd = 'Estimated request cost in USD.',
    transfer_out_cost_usd = 'Estimated transfer out cost in USD.',
    total_usd = 'Both.'
  )
);
SELECT * FROM cost_by_bucket($start_date, $end_date)
