MODEL (
  name demo_findings,
  kind QUERY,
  description 'Security findings at medium or above (the low and info ones are in security_findings)',
  column_descriptions (
    dt = 'UTC day.',
    severity = 'medium or high.',
    bucket = 'Source bucket.',
    detection = 'Which detection fired.',
    principal = 'Who, if the finding is about a principal.',
    sources = 'From where: the busiest addresses or networks with their requests, and how many more.',
    requests = 'Requests in the finding.',
    rule = 'What was broken or seen.',
    status = 'new or ongoing.'
  )
);
SELECT dt, severity, bucket, detection,
       principal, sources,
       request_count AS requests, rule, status
FROM security_findings
WHERE dt BETWEEN $start_date AND $end_date AND severity IN ('medium', 'high')
  AND NOT suppressed
ORDER BY dt, list_position(['high', 'medium'], severity), bucket, detection
