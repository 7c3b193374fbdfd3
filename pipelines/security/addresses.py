"""Addresses as the security models compare them: `ip_key` is 32 hex digits of the IPv6
address (IPv4 mapped into ::ffff:0:0/96), so one text comparison covers both families,
and a CIDR is a key range. The policy file's networks are read strictly
(`policy_network`: host bits set, `10.1.2.3/8`, or an interface zone, `fe80::%eth0/64`,
are refused, not silently widened); lists kept elsewhere, such as the threat list,
leniently (`cidr_range`).
"""

from __future__ import annotations

import ipaddress
import re

_ZONE = re.compile(r"%[^/]*")   # an IPv6 interface zone: fe80::1%eth0


def ip_key(text: str | None) -> str | None:
    """32 hex digits of the address (IPv4 as ::ffff:a.b.c.d); None if it is not one."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.version == 4:
        addr = ipaddress.IPv6Address(0xFFFF00000000 | int(addr))
    return f"{int(addr):032x}"


def cidr_range(text: str) -> tuple[str, str]:
    """(first, last) ip_key of a CIDR or a single address; ValueError if it is neither.

    Lenient (host bits are dropped), for lists kept elsewhere such as the threat list; the
    policy file's own networks go through policy_network."""
    return key_range(ipaddress.ip_network(str(text).strip(), strict=False))


def policy_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network a policy file names, read strictly; ValueError says what is wrong.

    A rule written `10.1.2.3/8` was meant as one address or as 10.0.0.0/8, and reading it
    either way silently would allow something nobody checked; a zone (`%eth0`) names an
    interface of some host, which access logs never carry."""
    text = str(text).strip()
    bare = _ZONE.sub("", text)
    try:
        loose = ipaddress.ip_network(bare, strict=False)
    except ValueError:
        raise ValueError("is not an address or CIDR") from None
    if bare != text:
        raise ValueError(f"names an interface zone ({_ZONE.search(text).group()}) that "
                         f"access logs never carry (write {loose})")
    try:
        return ipaddress.ip_network(bare, strict=True)
    except ValueError:
        raise ValueError(f"has host bits set (write the network, {loose}, or just "
                         f"{bare.split('/')[0]} for that one address)") from None


def key_range(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str, str]:
    """(first, last) ip_key of a network: a threat list's (`cidr_range`), or a policy
    file's once read strictly (pipelines.security.policy_file)."""
    return ip_key(str(net[0])), ip_key(str(net[-1]))
