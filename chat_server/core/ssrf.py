"""Which addresses a webhook may be delivered to (issue 17): only public ones, unless the
operator allows a network (`CHAT_WEBHOOK_ALLOW`). Checked on every address a host
resolves to, at each delivery, and the checked address is the one connected to, so a
name that later resolves elsewhere (DNS rebinding) gains nothing."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The allow list; `ValueError` names a bad entry."""
    found: list[Network] = []
    for cidr in cidrs:
        try:
            found.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not a network (CIDR): {cidr!r}") from None
    return tuple(found)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped, 6to4, NAT64, compatible."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
        return ipaddress.IPv4Address(int(ip))
    return None


def why_refused(ip: Address) -> str | None:
    """The reason `ip` is not a public unicast address, or None when it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = why_refused(inner)
            return f"{reason} (inside {ip})" if reason else None
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT, "shared (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not global"),
    )
    for hit, reason in checks:
        if hit:
            return f"{reason} address {ip}"
    return None


def refusal(address: str, allow: Sequence[Network] = ()) -> str | None:
    """Why `address` may not be delivered to (None: it may). An allowed network wins."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone id (fe80::1%eth0) aside
    except ValueError:
        return f"not an IP address: {address!r}"
    if any(ip.version == net.version and ip in net for net in allow):
        return None
    return why_refused(ip)


def literal(host: str) -> str | None:
    """`host` as an IP address when it is one (`[::1]` too), else None (a name)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare.split("%", 1)[0]))
    except ValueError:
        return None
