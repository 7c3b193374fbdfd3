-- Lines that did not parse, with their raw bytes, object key, line number and reason
-- (dt = the day the log object was filed under).
CREATE OR REPLACE VIEW quarantine AS
SELECT * FROM read_parquet(:quarantine_glob, hive_partitioning = true, union_by_name = true);
