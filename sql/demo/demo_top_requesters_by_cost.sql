MODEL (
  name demo_top_requesters_by_cost,
  kind QUERY,
  description 'Top requesters by cost (USD)',
  column_descriptions (
    attributed_to = 'The requester.',
    request_cost_usd = 'Estimated request cost in USD.',
    transfer_out_cost_usd = 'Estimated transfer out cost in USD.',
    total_usd = 'Both.'
  )
);
SELECT * FROM cost_by('requester', $start_date, $end_date) LIMIT 5
