MODEL (
  name demo_findings,
  kind QUERY,
  description 'Security findings',
  column_descriptions (
    detection = 'Which detection fired.',
    severity = 'info, low, medium or high.',
    findings = 'Number of findings.',
    requests = 'Requests in those findings.'
  )
);
SELECT detection, severity, count(*) AS findings, sum(request_count) AS requests
FROM security_findings
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY detection, severity
ORDER BY list_position(['high', 'medium', 'low', 'info'], severity), findings DESC
