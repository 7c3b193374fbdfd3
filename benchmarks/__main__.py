"""`make bench`: every benchmark, each printing our figures beside its baselines.
`python -m benchmarks parse` (or ingest, models) runs one."""

import sys

from benchmarks import backfill_bench, ingest_bench, models_bench, parse_bench

BENCHMARKS = {"parse": parse_bench.main, "ingest": ingest_bench.main,
              "models": models_bench.main, "backfill": backfill_bench.main}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(BENCHMARKS):
        BENCHMARKS[name]()
