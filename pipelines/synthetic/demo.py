"""The demo's data: a generated week of logs for three buckets, and its upload to an S3
endpoint for `make demo-s3`."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

from pipelines.synthetic.estate import EstateConfig
from pipelines.synthetic.incidents import Planted

# Two weeks of an estate's traffic (the first week is what baselines learn from), with two
# incidents in the second: someone's credentials used from abroad, and the payments
# bucket's policy and public access block changed.
DEMO = EstateConfig(start=date(2026, 11, 9), days=14, scale=0.4,
                    incidents=(Planted("credential_misuse", date(2026, 11, 20)),
                               Planted("config_change", date(2026, 11, 21))))


def demo_days() -> tuple[date, date]:
    """The demo's partition range: the generated days plus the day late objects reach."""
    return DEMO.start, DEMO.start + timedelta(days=DEMO.days + 1)


def upload(s3, folder: Path, source_url: str, lake_url: str) -> int:
    """Create the source's and the lake's buckets and upload the folder's logs under the
    source prefix; returns how many objects. Waits for a server that is still starting."""
    for attempt in range(50):
        try:
            s3.list_buckets()
            break
        except Exception:
            if attempt == 49:
                raise
            time.sleep(0.2)
    bucket, _, prefix = source_url.removeprefix("s3://").partition("/")
    for b in (bucket, lake_url.removeprefix("s3://").split("/")[0]):
        s3.create_bucket(Bucket=b)
    files = [p for p in folder.rglob("*") if p.is_file()]
    for p in files:
        s3.put_object(Bucket=bucket, Key=prefix + str(p.relative_to(folder)), Body=p.read_bytes())
    return len(files)
