MODEL (
  name alert_candidates,
  kind QUERY,
  description 'Findings an alert run considers: not suppressed, at or above a severity, on days from not_before on. Alerts deduplicate on finding_id (state in the lake), so an ongoing finding is sent once.',
  parameters (min_severity = 'medium', not_before = '1970-01-01'),
  column_descriptions (
    finding_id = 'Stable id of the finding.',
    dt = 'UTC day.',
    bucket = 'Source bucket.',
    detection = 'Which detection fired.',
    severity = 'info, low, medium or high.',
    status = 'new or ongoing.',
    first_detected = 'The day it was first detected.',
    principal = 'Who, if known.',
    sources = 'From where: the busiest addresses with their requests, and how many more.',
    request_count = 'Requests in the finding.',
    rule = 'What was broken or seen.',
    sample_request_ids = 'Up to three request ids as evidence.'
  )
);
SELECT finding_id, dt, bucket, detection, severity, status, first_detected, principal,
       sources, request_count, rule, sample_request_ids
FROM security_findings
WHERE dt BETWEEN $start_date AND $end_date AND dt >= $not_before AND NOT suppressed
  AND list_position(['info', 'low', 'medium', 'high'], severity)
      >= list_position(['info', 'low', 'medium', 'high'], $min_severity)
ORDER BY list_position(['high', 'medium', 'low', 'info'], severity), bucket, detection,
         dt, finding_id
