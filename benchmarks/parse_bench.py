"""Parser throughput and memory: ours against the Python `re` baseline and DuckDB read_csv,
on the same generated ~1 GiB file (mixed field counts, extra trailing fields, irregular
lines), each in its own process."""

from __future__ import annotations

import os

from benchmarks.common import BENCH_DIR, print_table, run_isolated, size_from_env
from pipelines.synthetic.synth import write_big_file


def main() -> list[dict]:
    size = size_from_env("S3LOGS_BENCH_PARSE_SIZE", "1GiB")
    BENCH_DIR.mkdir(exist_ok=True)
    path = BENCH_DIR / f"parse-{size >> 20}MiB.log"
    if not path.exists():
        print(f"generating {path} ({size >> 20} MiB) ...", flush=True)
        write_big_file(path, size, seed=1)
    nbytes = os.path.getsize(path)
    rows = []
    for method in ("python_re", "python_re_arrow_typed", "ours_1_worker", "ours",
                   "duckdb_read_csv", "ingest_from_folder"):
        print(f"parsing with {method} ...", flush=True)
        r = run_isolated("benchmarks.parse_methods", method, str(path))
        r["method"] = method
        r["mb_per_s"] = nbytes / 1e6 / r["seconds"]
        r["rows_per_s"] = r["rows"] / r["seconds"]
        rows.append(r)
    base = rows[0]
    duck = next(r for r in rows if r["method"] == "duckdb_read_csv")
    for r in rows:
        r["x_baseline"] = r["mb_per_s"] / base["mb_per_s"]
        r["x_duckdb"] = r["mb_per_s"] / duck["mb_per_s"]
    print_table(f"Parsing {nbytes / 2**20:,.0f} MiB ({base['lines']:,} lines); "
                "lost = lines neither parsed nor rejected with a reason",
                rows, [("method", "method"), ("mb_per_s", "MB/s"), ("rows_per_s", "rows/s"),
                       ("x_baseline", "x re"), ("x_duckdb", "x DuckDB"),
                       ("peak_rss_mib", "peak RSS MiB"),
                       ("rows", "rows"), ("rejects", "rejected"), ("lost", "lost")])
    return rows


if __name__ == "__main__":
    main()
