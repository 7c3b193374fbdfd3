"""The kernel's hand-written shape checks against the regexes of logformat, which the exact
parser uses: every value, drawn from the shape, near it or from anywhere, gets the same
answer from both."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.parsing import parse_kernel as k
from pipelines.parsing.logformat import FIELDS, POS

KERNEL_SHAPED = [f for i, f in enumerate(FIELDS) if f.shape and k.SHAPE[i]]


def kernel_says(name: str, value: str) -> bool:
    a = np.frombuffer(value.encode() + b"\n", np.uint8)
    return bool(k.shape_ok(a, 0, len(a) - 1, POS[name]))


def regex_says(name: str, value: str) -> bool:
    return re.fullmatch(FIELDS[POS[name]].shape, value) is not None


def test_every_shape_the_fast_path_relies_on_is_checked_in_the_kernel():
    """A shape added to logformat must be checked by the kernel too, or lines of the wrong
    shape would pass the fast path and be read differently by the exact parser."""
    other = {"http_status", "bytes_sent", "object_size", "total_time_ms",
             "turnaround_time_ms", "acl_required"}  # digits, length and Yes: in scan
    shaped = {f.name for f in FIELDS if f.shape}
    assert shaped - other == {f.name for f in KERNEL_SHAPED}


_ALPHABET = st.sampled_from(list("aAzZ09.-_:[]/!~ \t\"SigVTtLlSsVvrn") + ["\u017f", "\u00e9"])


def _near(shape: str):
    """Values from the shape, with a character inserted, removed or changed."""
    return st.tuples(st.from_regex(shape, fullmatch=True), st.integers(0, 40), _ALPHABET,
                     st.sampled_from(["insert", "delete", "replace"])).map(_edit)


def _edit(args):
    value, at, char, how = args
    at = min(at, len(value))
    if how == "insert":
        return value[:at] + char + value[at:]
    if how == "delete":
        return value[:at] + value[at + 1:]
    return value[:at] + char + value[at + 1:]


@pytest.mark.parametrize("name", [f.name for f in KERNEL_SHAPED])
@given(data=st.data())
def test_kernel_and_regex_agree_on_each_shape(name, data):
    shape = FIELDS[POS[name]].shape
    value = data.draw(st.one_of(st.from_regex(shape, fullmatch=True), _near(shape),
                                st.text(_ALPHABET, max_size=12), st.text(max_size=8)))
    assert kernel_says(name, value) == regex_says(name, value), value


@pytest.mark.parametrize("name, value, ok", [
    ("operation", "REST.GET.OBJECT", True), ("operation", "S3.COMPUTE.OBJECT.CHECKSUM", True),
    ("operation", "A.B.C.D.E.F", False), ("operation", "REST", False),
    ("operation", "REST..GET", False), ("source_region", "us-east-1", True),
    ("source_region", "us-gov-west-1", True), ("source_region", "us-1", False),
    ("source_region", "us-east-", False), ("tls_version", "TLSV1.2", True),
    ("tls_version", "TLS1.2", False), ("signature_version", "SigV4", True),
    ("signature_version", "sigv4", False), ("access_point_arn", "arn:aws:s3:::a", True),
    ("access_point_arn", "arn:", False), ("host_header", "[::1]:9000", True)])
def test_examples(name, value, ok):
    assert kernel_says(name, value) == regex_says(name, value) == ok
