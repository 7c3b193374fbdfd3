"""Reading the lake (LakeReader): its files, listings, fingerprints and datasets, and the
errors of a file the writers keep that cannot be read as what it must be.
"""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.dataset as ds

from pipelines.lake.parquet_files import decode
from pipelines.lake.storage import Location, resolve


class LakeMetadataError(ValueError):
    """A file the writers keep (a manifest, `_lake.json`) cannot be read as what it must
    be; one sentence naming it and saying what to do (the CLI prints it, no traceback)."""

    def __init__(self, url: str, problem: str, what_to_do: str) -> None:
        super().__init__(f"{url} {problem}: {what_to_do}")
        self.url = url


def unreadable(e: BaseException) -> str:
    """What was wrong with a file, in a few words, from the error reading it raised."""
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {first}"[:200] if first else type(e).__name__


def file_stamp(st: os.stat_result) -> str:
    """What identifies the bytes a local file holds: its size, mtime and inode, which a
    rename keeps. `fingerprints` reads it; pipelines.lake.store's writers return it."""
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


class LakeReader:
    """A lake as its readers see it: paths, whole files, listings, fingerprints and
    datasets, each request counted. pipelines.lake.store's Lake extends it with the ways
    of writing safely."""

    def __init__(self, url: str, endpoint: str | None = None) -> None:
        self.url = url
        self.endpoint = endpoint
        self.loc: Location = resolve(url.rstrip("/") + "/", endpoint)

    @property
    def fs(self):
        return self.loc.fs

    @property
    def counts(self):
        return self.loc.counts

    def path(self, *parts: str) -> str:
        return self.loc.join(*parts)

    def display(self, path: str) -> str:
        return self.loc.display(path)

    # -- reading -------------------------------------------------------------------------

    def read_json(self, path: str) -> dict | None:
        data = self.read_bytes(path)
        return None if data is None else json.loads(data)

    def read_object(self, path: str, what_to_do: str) -> dict | None:
        """A JSON object the writers keep, or None if the file does not exist;
        LakeMetadataError (naming the file, saying `what_to_do`) if it is not one."""
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            value = json.loads(data)
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
            raise LakeMetadataError(self.display(path), f"is not valid JSON ({len(data):,} "
                                    f"bytes; {unreadable(e)})", what_to_do) from e
        if not isinstance(value, dict):
            raise LakeMetadataError(self.display(path), f"holds a JSON "
                                    f"{type(value).__name__}, not an object", what_to_do)
        return value

    def read_bytes(self, path: str) -> bytes | None:
        """A whole file in one GET (opening it would ask for its size first), or None."""
        self.loc.count_local("GET")
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    def read_table(self, paths: list[str], schema: pa.Schema) -> pa.Table:
        """The rows of these Parquet files (FileNotFoundError if one is gone)."""
        return decode(self.read_files(paths), schema)

    def read_files(self, paths: list[str]) -> list[bytes]:
        """The bytes of these files (FileNotFoundError if one is gone)."""
        out = []
        for p in paths:
            data = self.read_bytes(p)
            if data is None:
                raise FileNotFoundError(p)
            out.append(data)
        return out

    def dataset(self, table: str = "access_logs", schema: pa.Schema | None = None
                ) -> ds.Dataset:
        """A lake folder as an Arrow dataset with its hive partition columns. Given the
        `schema` (partition columns included, as text), no file is opened to find it."""
        root = self.path(table)
        if not self.fs.exists(root):
            raise FileNotFoundError(f"{self.display(root)} does not exist yet: ingest first")
        partitioning = "hive"
        if schema is not None:
            keys = [f for f in schema if f.name in ("dt", "bucket", "source")]
            partitioning = ds.partitioning(pa.schema(keys), flavor="hive")
        return ds.dataset(root, filesystem=self.fs, format="parquet", schema=schema,
                          partitioning=partitioning, exclude_invalid_files=False)

    def files(self, table: str = "access_logs") -> list[str]:
        """Every Parquet file under a folder of the lake (recursively)."""
        return sorted(p for p in self.find(self.path(table)) if p.endswith(".parquet"))

    def snapshot(self) -> dict[str, bytes]:
        """Every file readers see (records and quarantine), by path from the root: what two
        lakes must agree on, byte for byte, to be the same lake."""
        out = {}
        for table in ("access_logs", "quarantine"):
            for path in self.files(table):
                out[path[len(self.loc.path):]] = self.read_bytes(path)
        return out

    def sizes(self, folder: str) -> dict[str, int]:
        """Every file under `folder`, recursively, with its size, from one listing (what
        `find` asks for anyway); none if it does not exist."""
        self.loc.count_local("LIST")
        try:
            found = self.fs.find(folder, detail=True)
        except FileNotFoundError:
            return {}
        return {path: int(info.get("size") or 0) for path, info in sorted(found.items())
                if info.get("type", "file") == "file"}

    def find(self, folder: str) -> list[str]:
        """Every file under `folder`, recursively; none if it does not exist."""
        return list(self.sizes(folder))

    def parts(self, folder: str) -> list[str]:
        """The part-NNNNN.parquet files directly in `folder`."""
        return sorted(self.fingerprints(folder))

    def fingerprints(self, folder: str) -> dict[str, str]:
        """The part-NNNNN.parquet files directly in `folder`, each with what identifies the
        bytes it holds now: its ETag on S3; locally its size, mtime and inode, which the
        rename that made it visible kept."""
        self.loc.count_local("LIST")
        try:
            entries = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return {}
        found = {}
        for e in entries:
            name = e["name"]
            if not (os.path.basename(name).startswith("part-") and name.endswith(".parquet")):
                continue
            try:
                found[name] = e["ETag"].strip('"') if self.loc.is_s3 else file_stamp(os.stat(name))
            except FileNotFoundError:
                continue  # deleted since the listing: not there
        return found
