"""`make bench`: every benchmark, each printing our figures beside its baselines.
`python -m benchmarks parse` (or ingest, models, backfill) runs one; `scale` (the scale
benchmark, long: `make bench scale`) runs only when named."""

import sys

from benchmarks import backfill_bench, ingest_bench, models_bench, parse_bench, scale_bench

BENCHMARKS = {"parse": parse_bench.main, "ingest": ingest_bench.main,
              "models": models_bench.main, "backfill": backfill_bench.main,
              "scale": scale_bench.main}
DEFAULT = ["parse", "ingest", "models", "backfill"]

if __name__ == "__main__":
    unknown = [name for name in sys.argv[1:] if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"no benchmark {unknown[0]!r} (there are {', '.join(BENCHMARKS)})")
    for name in sys.argv[1:] or DEFAULT:
        BENCHMARKS[name]()
