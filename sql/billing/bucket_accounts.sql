MODEL (
  name bucket_accounts,
  kind SEED (path 'bucket_accounts.csv'),
  description 'Bucket owner account ids (bucket_accounts.csv), for the rule that 403s from outside the owner''s account are not billed.',
  columns (bucket TEXT, account_id TEXT),
  column_descriptions (
    bucket = 'Bucket name.',
    account_id = 'Owner''s AWS account id.'
  )
);
