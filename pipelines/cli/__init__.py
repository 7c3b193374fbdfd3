"""The `s3logs` command line: one module per command group. The work is done in
`pipelines`; these modules read arguments, call it, and print what it returns."""

from __future__ import annotations

import argparse
import sys

import duckdb

from pipelines.cli import (
    demo,
    ingest,
    logging_setup,
    models,
    parse,
    query,
    report,
    retention,
    security,
)
from pipelines.cli.common import UserError, parent_parser
from pipelines.ingestion.fetch import FetchError
from pipelines.lake.store import LakeWriteError
from pipelines.memory import bound_allocator
from pipelines.security.alerts import AlertError
from pipelines.sql.catalog import CatalogError
from pipelines.sql.models import ModelError
from pipelines.sql.warehouse import ReadOnlyError

GROUPS = (parse, demo, ingest, models, query, security, logging_setup, retention, report)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s3logs", description="A warehouse for Amazon S3 "
                                "server access logs: parse, ingest, model, query.")
    sub = p.add_subparsers(dest="command", required=True)
    parent = parent_parser()
    for group in GROUPS:
        group.register(sub, parent)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    bound_allocator()  # the process's, so here: see pipelines.memory
    try:
        return args.func(args)
    except (UserError, ValueError, FetchError, FileNotFoundError, CatalogError,
            ModelError, ReadOnlyError, LakeWriteError, AlertError) as e:
        print(f"s3logs: {e}", file=sys.stderr)
        return 2
    except duckdb.Error as e:
        print(f"s3logs: DuckDB said: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    except Exception as e:  # the AWS errors a newcomer meets, in one sentence each
        message = aws_error(e)
        if message is None:
            raise
        print(f"s3logs: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def aws_error(e: Exception) -> str | None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(e, NoCredentialsError) or "Unable to locate credentials" in str(e):
        return ("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE, or run `aws configure`")
    if isinstance(e, EndpointConnectionError) or "Could not connect to the endpoint" in str(e):
        return (f"cannot reach the S3 endpoint ({e}): check AWS_ENDPOINT_URL_S3 or "
                "--endpoint, and that the server is running")
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            return f"bucket not found ({e}): check the bucket name and the region"
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"access denied ({code}): the credentials in use lack permission for this"
        return f"S3 said {code}: {e}"
    if isinstance(e, PermissionError):
        return f"access denied: {e}"
    return None


if __name__ == "__main__":
    sys.exit(main())
