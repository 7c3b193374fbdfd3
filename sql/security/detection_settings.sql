MODEL (
  name detection_settings,
  kind SEED (path 'detection_settings.csv'),
  description 'Thresholds and severities of the security detections (detection_settings.csv).',
  columns (detection TEXT, parameter TEXT, value TEXT),
  column_descriptions (
    detection = 'Detection name.',
    parameter = 'Setting name.',
    value = 'Setting value (text; cast where used).'
  )
);
