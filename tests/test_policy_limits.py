"""Policy files that would hurt to read: each is refused in one sentence, before it costs much.

The limits are written out here as docs/security/policies.md documents them (1 MiB, 32
levels, 200,000 values, 100,000 rows), so a change to one is a change to the documentation too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.security import policy
from pipelines.security.policy_file import PolicyError

S3LOGS = str(Path(sys.executable).parent / "s3logs")
VALID = "buckets:\n  b:\n    networks: [\"10.0.0.0/8\"]\n"


def refusal(path: Path) -> str:
    """The message `s3logs policy check` (and every session) stops with, checked to be one
    line naming the file."""
    with pytest.raises(PolicyError) as e:
        policy.check(str(path))
    message = str(e.value)
    assert message.startswith(str(path)) and len(message.splitlines()) == 1, message
    return message


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("depth", [500, 100_000])
def test_deeply_nested_brackets_are_refused_in_one_sentence(tmp_path, depth):
    path = written(tmp_path, "buckets: " + "[" * depth + "]" * depth + "\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line 1: ") and "nest more than 32 deep" in message


def test_the_cli_refuses_nested_brackets_without_a_traceback(tmp_path):
    path = written(tmp_path, "buckets:\n  b: " + "[" * 500 + "]" * 500 + "\n")
    out = subprocess.run([S3LOGS, "policy", "check", str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert f"{path}, line 2: " in out.stderr and "nest more than 32 deep" in out.stderr


def test_an_alias_bomb_is_refused_at_its_first_alias(tmp_path):
    # 10,000 networks named by 1,000 buckets: 10 million rows if the aliases were followed.
    cidrs = ", ".join(f"10.{i >> 8}.{i & 255}.0/24" for i in range(10_000))
    lines = ["buckets:", "  b0:", f"    networks: &nets [{cidrs}]"]
    for n in range(1, 1_000):
        lines += [f"  b{n}:", "    networks: *nets"]
    path = written(tmp_path, "\n".join(lines) + "\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line 5: *nets is a YAML alias"), message


def test_a_file_over_1_mib_is_refused_before_it_is_parsed(tmp_path):
    path = written(tmp_path, VALID + "#" * (1 << 20) + "\n")
    assert "larger than 1 MiB" in refusal(path)


@pytest.mark.parametrize("network, line_no, words", [
    ("10.1.2.3/8", 3, "'10.1.2.3/8', which has host bits set (write the network, "
                      "10.0.0.0/8, or just 10.1.2.3"),
    ("192.168.1.1/255.255.255.0", 3, "host bits set (write the network, 192.168.1.0/24"),
], ids=["prefix", "netmask"])
def test_host_bits_are_refused_with_the_network_to_write(tmp_path, network, line_no, words):
    path = written(tmp_path, f"buckets:\n  b:\n    networks: [\"10.0.0.0/8\", \"{network}\"]\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line {line_no}: b.networks has ") and words in message


def test_ipv6_host_bits_are_refused_with_the_network_to_write(tmp_path):
    path = written(tmp_path, "buckets:\n  b:\n    networks:\n      - \"2001:db8::/32\"\n"
                             "      - \"2001:db8::1/32\"\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line 5: b.networks has '2001:db8::1/32'")
    assert "host bits set (write the network, 2001:db8::/32" in message


@pytest.mark.parametrize("network", ["fe80::1%eth0/64", "fe80::%eth0/64", "fe80::1%2"])
def test_an_interface_zone_is_refused(tmp_path, network):
    path = written(tmp_path, f"buckets:\n  b:\n    networks: [\"{network}\"]\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line 3: b.networks has {network!r}")
    assert "names an interface zone (%" in message


def test_a_suppression_network_is_read_as_strictly(tmp_path):
    path = written(tmp_path, VALID + "suppressions:\n  - bucket: b\n    network: 10.30.1.0/16\n"
                                     "    reason: r\n    expires: 2027-01-01\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line 6: suppressions[0].network has '10.30.1.0/16'")
    assert "(write the network, 10.30.0.0/16" in message


def test_more_than_100000_rows_are_refused_without_aliases(tmp_path):
    # 101 lines of 1,000 networks each (about 900 KB, under the size limit): the 100,001st
    # is the first of the last line.
    chunk = "      " + ", ".join(["1.0.0.0"] * 1_000) + ","
    path = written(tmp_path, "buckets:\n  b:\n    networks: [\n" + "\n".join([chunk] * 101)
                   + "\n    ]\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line 104: b.networks takes the policy past 100,000 "
                              "rows"), message


def test_more_values_than_the_node_cap_are_refused_while_composing(tmp_path):
    # 250,000 one-letter values (about 750 KB, under the size limit) in a key that takes
    # text: without the cap all of them were composed (about 460 MB) before the type check
    path = written(tmp_path, "buckets:\n  b:\n    description: [" + ", ".join(["a"] * 250_000)
                   + "]\n")
    message = refusal(path)
    assert message.startswith(f"{path}, line 3: the file holds more than 200,000 values"), \
        message
