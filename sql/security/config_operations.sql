MODEL (
  name config_operations,
  kind SEED (path 'config_operations.csv'),
  description 'Bucket configuration operations and how much a change to each matters (config_operations.csv): the config_change detection. The log shows that a configuration changed, not what it became.',
  columns (operation TEXT, kind TEXT, severity TEXT),
  column_descriptions (
    operation = 'Operation as logged.',
    kind = 'What it configures.',
    severity = 'info, low, medium or high.'
  )
);
