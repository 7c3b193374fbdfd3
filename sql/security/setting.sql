-- setting(detection, parameter): a value from detection_settings (sql/security/detection_settings.csv).
CREATE OR REPLACE MACRO setting(d, p) AS
    (SELECT value FROM detection_settings WHERE detection = d AND parameter = p);
