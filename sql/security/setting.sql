MODEL (
  name setting,
  kind MACRO,
  description 'setting(detection, parameter): a value from detection_settings, as text.'
);
CREATE OR REPLACE MACRO setting(d, p) AS
    (SELECT value FROM detection_settings WHERE detection = d AND parameter = p);
