"""`make bench`: every benchmark, each printing our figures beside its baselines."""

from benchmarks import parse_bench

if __name__ == "__main__":
    parse_bench.main()
