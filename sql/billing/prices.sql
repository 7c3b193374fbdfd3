MODEL (
  name prices,
  kind SEED (path 'prices.csv'),
  description 'Versioned S3 price table (prices.csv): the billing models use the row in effect on each day.',
  columns (region TEXT, storage_class TEXT, item TEXT, from_gb DOUBLE, to_gb DOUBLE, usd DOUBLE,
           unit TEXT, effective_from TEXT, effective_to TEXT, source_url TEXT),
  column_descriptions (
    region = 'AWS Region.',
    storage_class = 'Storage class, or ALL.',
    item = 'tier1, tier2 (per 1,000 requests) or transfer_out (per GB, tiered).',
    from_gb = 'Start of the monthly transfer tier in GB.',
    to_gb = 'End of the monthly transfer tier in GB (null: no end).',
    usd = 'Price in USD.',
    unit = 'per_1000_requests or per_gb.',
    effective_from = 'First day the price applies.',
    effective_to = 'Last day the price applies (null: still in effect).',
    source_url = 'Where the price comes from.'
  )
);
