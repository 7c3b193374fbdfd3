MODEL (
  name findings_at_least,
  kind MACRO,
  description 'findings_at_least(severity): security findings at or above a severity (info, low, medium, high), newest first.'
);
CREATE OR REPLACE MACRO findings_at_least(min_severity) AS TABLE
    SELECT * FROM security_findings
    WHERE list_position(['info', 'low', 'medium', 'high'], severity)
          >= list_position(['info', 'low', 'medium', 'high'], min_severity)
    ORDER BY dt DESC, severity DESC, request_count DESC;
