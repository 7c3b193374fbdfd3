-- Every Parquet file under a lake folder, with its hive partitions (dt=..., bucket=...) as
-- text columns (dt stays 'YYYY-MM-DD'). The session runs this with $glob bound; it is not
-- a model, so it has no header.
SELECT * FROM read_parquet($glob, hive_partitioning = true, hive_types_autocast = false,
                           union_by_name = true)
