"""Parse log files (or folders of them) into Parquet files of records and rejects,
streaming: each file is open only while it is read, and memory holds one chunk at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow.parquet as pq

from pipelines.ingestion.progress import Progress
from pipelines.parsing.logformat import RECORD_SCHEMA, REJECT_SCHEMA
from pipelines.parsing.parse import parse_objects


@dataclass
class ParseCounts:
    files: int = 0
    bytes_read: int = 0
    lines_read: int = 0     # = rows + rejected
    rows: int = 0
    rejected: int = 0
    blank_lines: int = 0


def input_files(paths: list[str]) -> list[Path]:
    """The files named, and every file under the folders named (hidden ones skipped)."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file()
                            and not f.name.startswith("."))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist: give log files or folders of log "
                                    "files")
    if not found:
        raise FileNotFoundError("no log files found under " + ", ".join(paths))
    return found


def _opened(files: list[Path]) -> Iterator[tuple[str, BinaryIO]]:
    for f in files:
        with open(f, "rb") as stream:
            yield str(f), stream


def parse_files(paths: list[str], out: str, rejects_out: str | None = None,
                progress: bool = True) -> ParseCounts:
    """Parse every file into `out` (records) and `rejects_out` (lines that did not parse)."""
    files = input_files(paths)
    counts = ParseCounts(files=len(files))
    bar = Progress("parse", total=sum(f.stat().st_size for f in files), unit="B",
                   enabled=progress)
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(pq.ParquetWriter(out, RECORD_SCHEMA, compression="zstd"))
        rejects = (stack.enter_context(pq.ParquetWriter(rejects_out, REJECT_SCHEMA))
                   if rejects_out else None)
        for part in parse_objects(_opened(files)):
            writer.write_table(part.records)
            if rejects:
                rejects.write_table(part.rejects)
            counts.bytes_read += part.bytes_read
            counts.lines_read += part.lines_read
            counts.rows += len(part.records)
            counts.rejected += len(part.rejects)
            counts.blank_lines += part.blank_lines
            bar.advance(part.bytes_read)
    bar.done()
    return counts
