"""Session fixtures: a real S3 HTTP endpoint on 127.0.0.1 (tests.helpers.upload fills it)."""

from __future__ import annotations

import logging
import os
import urllib.request

import boto3
import pytest
from hypothesis import HealthCheck, settings

from tests.s3server import FaultProxy
from tests.servers import Webhook

os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
os.environ.pop("AWS_PROFILE", None)

# `make test` explores the same examples on every run, so CI never fails on a draw it has
# not seen before; `make fuzz` draws fresh random examples, many more of them, to find
# new failures (add each one as an edge-case test).
settings.register_profile("repeatable", max_examples=300, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", settings.get_profile("repeatable"), derandomize=False,
                          max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's standalone S3 server on a free port of 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL_S3")
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    yield endpoint
    if previous is None:
        os.environ.pop("AWS_ENDPOINT_URL_S3", None)
    server.stop()


@pytest.fixture
def s3(s3_endpoint):
    """A clean S3 (everything deleted) and a boto3 client for arranging test data."""
    req = urllib.request.Request(f"{s3_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req).read()
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    for bucket in ("target-logs", "lake"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def fault_proxy(s3_endpoint):
    """An S3 endpoint that forwards to moto unless a test adds faults."""
    host, port = s3_endpoint.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port)))
    url = proxy.start()
    proxy.url = url
    yield proxy
    proxy.stop()


@pytest.fixture
def receiver():
    """An alert webhook on 127.0.0.1 (tests.servers.Webhook), for one test."""
    hook = Webhook()
    yield hook
    hook.stop()
