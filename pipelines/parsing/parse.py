"""Parse S3 server access log objects into typed Arrow tables, losing nothing.

Every non-blank line becomes exactly one record or one reject (with its raw bytes, object
key, line number and reason), so `lines_read == len(records) + len(rejects)` always holds.
Input may be plain or gzip-compressed (detected by magic bytes). `iter_parse` streams a
file object chunk by chunk so memory stays bounded whatever the input size; `parse_log`
is the whole-object convenience form.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from pipelines.parsing.logformat import RECORD_SCHEMA, REJECT_SCHEMA
from pipelines.parsing.parse_kernel import all_space, count_lines, find_newline, last_newline
from pipelines.parsing.parse_line import LineRejected, parse_line
from pipelines.parsing.parse_vector import Origins, parse_regular

CHUNK_BYTES = 4 << 20
MAX_LINE_BYTES = 4 << 20  # the longest line read whole: log lines are a few kilobytes
SAMPLE_BYTES = 4096       # what is kept of a longer one
MAX_EXPANSION, EXPANSION_FLOOR = 100, 1 << 30
_SOURCE_KEY = RECORD_SCHEMA.get_field_index("source_key")
_LINE_NUMBER = RECORD_SCHEMA.get_field_index("line_number")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class ParseResult:
    records: pa.Table
    rejects: pa.Table
    lines_read: int = 0     # non-blank lines: always len(records) + len(rejects)
    blank_lines: int = 0
    bytes_read: int = 0
    slow_lines: int = field(default=0, repr=False)  # lines the exact parser handled

    @property
    def parse_rate(self) -> float:
        return len(self.records) / self.lines_read if self.lines_read else 1.0

    @staticmethod
    def concat(parts: Iterable[ParseResult]) -> ParseResult:
        parts = list(parts)
        return ParseResult(
            records=pa.concat_tables([p.records for p in parts] or [RECORD_SCHEMA.empty_table()]),
            rejects=pa.concat_tables([p.rejects for p in parts] or [REJECT_SCHEMA.empty_table()]),
            lines_read=sum(p.lines_read for p in parts),
            blank_lines=sum(p.blank_lines for p in parts),
            bytes_read=sum(p.bytes_read for p in parts),
            slow_lines=sum(p.slow_lines for p in parts),
        )


def parse_chunk(buf: bytes | memoryview, origins: Origins) -> ParseResult:
    """Parse a run of whole lines (`buf` ends with a newline) from the objects in `origins`."""
    if all_space(np.frombuffer(buf, np.uint8)):  # blank lines only: counted, not tokenised
        return ParseResult(RECORD_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table(),
                           blank_lines=origins.lines, bytes_read=len(buf))
    fast = parse_regular(buf, origins)
    rows: list[list] = []
    rejects: dict[str, list] = {name: [] for name in REJECT_SCHEMA.names}
    blank = len(fast.line_starts) - len(fast.records) - len(fast.leftover)
    slow = 0
    segs, numbers = origins.locate(fast.leftover)
    for i, seg, line_no in zip(fast.leftover.tolist(), segs.tolist(), numbers.tolist()):
        raw = bytes(buf[fast.line_starts[i]:fast.line_ends[i]])
        if not raw.strip():
            blank += 1
            continue
        slow += 1
        key = origins.keys[seg]
        try:
            values = parse_line(raw)
            values[_SOURCE_KEY], values[_LINE_NUMBER] = key, line_no
            rows.append(values)
        except LineRejected as e:
            for name, v in zip(REJECT_SCHEMA.names, (key, line_no, raw, str(e))):
                rejects[name].append(v)
    records = fast.records
    if rows:
        exact = pa.Table.from_arrays([pa.array(column, field.type) for column, field in
                                      zip(zip(*rows), RECORD_SCHEMA)], schema=RECORD_SCHEMA)
        records = pa.concat_tables([records, exact])  # regular lines first, then these
    reject_table = pa.table(rejects, schema=REJECT_SCHEMA)
    return ParseResult(records, reject_table,
                       lines_read=len(records) + len(reject_table), blank_lines=blank,
                       bytes_read=len(buf), slow_lines=slow)


def open_maybe_gzip(stream: BinaryIO) -> BinaryIO:
    """Wrap `stream` in a gzip reader when it starts with the gzip magic bytes."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return _Gunzip(buffered)
    return buffered


class CompressionBomb(Exception):
    """A gzip stream expands far more than log text does."""


class _Counted:
    """A binary stream that counts the bytes read from it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.taken = raw, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.taken += len(data)
        return data


class _Gunzip:
    """A gzip reader that stops a stream expanding past MAX_EXPANSION times what it read
    once it is past EXPANSION_FLOOR: log text compresses about tenfold, a bomb a
    thousandfold, and reading it would cost time and disk for nothing."""

    def __init__(self, raw: BinaryIO) -> None:
        self.compressed, self.given = _Counted(raw), 0
        self.gzip = gzip.GzipFile(fileobj=self.compressed)

    def read1(self, size: int = -1) -> bytes:
        data = self.gzip.read1(size)
        self.given += len(data)
        taken = max(self.compressed.taken, 1)
        if self.given > EXPANSION_FLOOR and self.given > MAX_EXPANSION * taken:
            raise CompressionBomb(f"the gzip data expands more than {MAX_EXPANSION}-fold "
                                  f"({taken:,} bytes gave {self.given:,}), which log text "
                                  "never does")
        return data

    def readinto1(self, view: memoryview) -> int:
        data = self.read1(len(view))
        view[:len(data)] = data
        return len(data)


class CorruptInput(Exception):
    """The compressed stream ended early or is damaged; `line_no` is the next line."""

    def __init__(self, line_no: int, cause: Exception) -> None:
        what = str(cause) if isinstance(cause, CompressionBomb) else \
            f"gzip data is truncated or corrupt ({cause})"
        super().__init__(f"{what}; the lines before it were parsed, the rest not read")
        self.line_no = line_no


@dataclass(frozen=True)
class LongLine:
    """A line longer than MAX_LINE_BYTES: not a log record (they are a few kilobytes).
    Read past in bounded memory; its first bytes are kept as evidence."""

    line_no: int
    sample: bytes
    size: int

    @property
    def reason(self) -> str:
        return (f"a line of {self.size:,} bytes, longer than any log record: only its first "
                f"{len(self.sample):,} bytes are kept")


@dataclass(frozen=True)
class Chunk:
    """Whole lines of one object, ending in a newline: `lines` of them from `first_line`
    (1-based). Lines are counted once, here, and the count travels with the bytes."""

    data: memoryview | bytes
    first_line: int
    lines: int


def iter_chunks(stream: BinaryIO, chunk_bytes: int = CHUNK_BYTES
                ) -> Iterator[Chunk | LongLine]:
    """A Chunk of about `chunk_bytes` at a time, and a LongLine for each line longer than
    MAX_LINE_BYTES: memory stays bounded. Each block is read straight into the buffer its
    chunk is a view of, behind the start of a line the previous block cut (the carry), so
    the bytes are not copied on their way to the parser.

    Raises CorruptInput after the last good chunk when decompression fails."""
    line_no, carry = 1, b""
    long_line: list | None = None  # [line_no, sample, size] while reading past one
    while True:
        buf = np.empty(len(carry) + chunk_bytes, np.uint8)  # not zeroed: all overwritten
        buf[:len(carry)] = np.frombuffer(carry, np.uint8)
        got, error = _fill(stream, memoryview(buf)[len(carry):])
        buf.flags.writeable = False  # chunks are views of it (and kernels see one type)
        if not got and error is None:
            break
        end, start = len(carry) + got, 0  # this block's lines begin at start
        if long_line is not None:
            newline = find_newline(buf, 0, end)
            long_line[2] += got if newline < 0 else newline
            if newline < 0 and error is None:
                continue
            yield LongLine(*long_line)
            line_no, long_line = line_no + 1, None
            start = end if newline < 0 else newline + 1
        cut = last_newline(buf, start, end) + 1  # the carry holds no newline
        if cut:
            chunk = Chunk(memoryview(buf[start:cut]), line_no, count_lines(buf[start:cut]))
            yield chunk
            line_no += chunk.lines
            carry = buf[cut:end].tobytes()
        else:
            carry = buf[start:end].tobytes()
        if len(carry) > MAX_LINE_BYTES:
            long_line, carry = [line_no, carry[:SAMPLE_BYTES], len(carry)], b""
        if error is not None:
            if long_line is not None:
                yield LongLine(*long_line)
                line_no += 1
            elif carry:
                yield Chunk(carry + b"\n", line_no, 1)
                line_no += 1
            raise CorruptInput(line_no, error) from error
        if got < chunk_bytes:
            break  # the stream ended: no need to ask again
    if long_line is not None:
        yield LongLine(*long_line)
    elif carry:
        yield Chunk(carry + b"\n", line_no, 1)  # a last line without its newline


def _fill(stream: BinaryIO, view: memoryview) -> tuple[int, Exception | None]:
    """Read into `view` until it is full or the stream ends: the bytes read, and the
    decompression error that stopped it early, if any (the data before it is kept)."""
    got = 0
    while got < len(view):
        try:
            n = stream.readinto1(view[got:])
        except (EOFError, zlib.error, gzip.BadGzipFile, CompressionBomb) as e:
            return got, e  # the store's own errors propagate: retried later
        if not n:
            break
        got += n
    return got, None


def _one_reject(source_key: str, line_no: int, raw: bytes, reason: str) -> ParseResult:
    rejects = pa.table({"source_key": [source_key], "line_number": [line_no],
                        "raw_line": [raw], "reason": [reason]}, schema=REJECT_SCHEMA)
    return ParseResult(RECORD_SCHEMA.empty_table(), rejects, lines_read=1)


Job = tuple[bytes, Origins] | ParseResult


def _jobs(objects: Iterable[tuple[str, BinaryIO | bytes]], chunk_bytes: int) -> Iterator[Job]:
    """Chunks of about `chunk_bytes` of whole lines. Small objects are packed together
    (S3 delivers many small objects, and a chunk has a fixed cost); large ones are split."""
    pack: list[bytes] = []
    keys: list[str] = []
    starts: list[int] = []
    firsts: list[int] = []
    size = lines = 0

    def flush() -> Job:
        nonlocal size, lines
        data = pack[0] if len(pack) == 1 else b"".join(pack)  # a view is not copied
        job = data, Origins(keys.copy(), np.array(starts), np.array(firsts), lines)
        pack.clear(), keys.clear(), starts.clear(), firsts.clear()
        size = lines = 0
        return job

    for key, source in objects:
        block = chunk_bytes
        if isinstance(source, (bytes, bytearray, memoryview)):
            block = min(chunk_bytes, max(len(source), 1))  # a small object's own size
            source = io.BytesIO(source)
        try:
            for item in iter_chunks(open_maybe_gzip(source), block):
                if isinstance(item, LongLine):
                    if pack:
                        yield flush()
                    yield _one_reject(key, item.line_no, item.sample, item.reason)
                    continue
                if pack and size + len(item.data) > chunk_bytes:
                    yield flush()  # a chunk of a large object goes alone, not copied
                pack.append(item.data), keys.append(key), starts.append(lines)
                firsts.append(item.first_line)
                size += len(item.data)
                lines += item.lines
                if size >= chunk_bytes:
                    yield flush()
        except CorruptInput as e:
            if pack:
                yield flush()
            yield _one_reject(key, e.line_no, b"", str(e))
    if pack:
        yield flush()


def _run(jobs: Iterator[Job], workers: int) -> Iterator[ParseResult]:
    """Parse jobs in order; numpy and Arrow release the GIL in their kernels, so chunks
    parse in parallel threads, with at most `workers + 1` chunks in memory."""
    if workers <= 1:
        for job in jobs:
            yield job if isinstance(job, ParseResult) else parse_chunk(*job)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="parse") as pool:
        pending: deque = deque()
        try:
            for job in jobs:
                pending.append(job if isinstance(job, ParseResult) else
                               pool.submit(parse_chunk, *job))
                if len(pending) > 2 * workers:
                    yield _result(pending.popleft())
        finally:
            while pending:
                yield _result(pending.popleft())


def _result(item) -> ParseResult:
    return item if isinstance(item, ParseResult) else item.result()


def iter_parse(source: BinaryIO | bytes, source_key: str = "", *,
               chunk_bytes: int = CHUNK_BYTES, workers: int = 2) -> Iterator[ParseResult]:
    """Parse one log object (a file object or bytes, plain or gzip) chunk by chunk, in
    order, in bounded memory. A damaged gzip stream yields what decompressed, then one
    reject that says so."""
    return _run(_jobs([(source_key, source)], chunk_bytes), workers)


def parse_objects(objects: Iterable[tuple[str, BinaryIO | bytes]], *,
                  chunk_bytes: int = CHUNK_BYTES, workers: int = 2) -> Iterator[ParseResult]:
    """Parse many log objects, given as (key, bytes or file object), packing small ones
    into shared chunks; each result may hold lines of several objects (see source_key)."""
    return _run(_jobs(objects, chunk_bytes), workers)


def parse_log(data: bytes, source_key: str = "") -> ParseResult:
    """Parse one whole log object (plain or gzip bytes) into records and rejects, both in
    line order."""
    result = ParseResult.concat(iter_parse(data, source_key))
    lines = result.records["line_number"].to_numpy()
    if len(lines) > 1 and (np.diff(lines) < 0).any():
        result.records = result.records.take(np.argsort(lines, kind="stable"))
    return result
