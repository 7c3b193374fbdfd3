-- Every request in the lake: the parsed record plus its hive partition columns
-- (dt = UTC event date, bucket = source bucket). Rows are unique per record_id within a
-- (dt, bucket) partition; the lake writer drops S3's duplicate deliveries.
CREATE OR REPLACE VIEW access_logs AS
SELECT * FROM read_parquet(:access_logs_glob, hive_partitioning = true, union_by_name = true);
