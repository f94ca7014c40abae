"""Whether an address stays on this machine: the one rule by which the server, its HTTP door,
the OpenID Connect checks, the test clock and the SDK decide that plaintext is acceptable."""

from __future__ import annotations

import ipaddress

# Names that resolve to loopback on every system Aval runs on (/etc/hosts); any other name may
# resolve anywhere, and so counts as beyond loopback.
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def is_loopback_host(host: str) -> bool:
    """Whether a host name or IP literal (brackets allowed) is this machine's loopback."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_address(address: str) -> bool:
    """Whether ``HOST:PORT`` (a gRPC target: ``dns:///``, ``ipv4:``, ``ipv6:`` prefixes and
    ``[v6]`` allowed) or a Unix socket stays on this machine."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    target = address.removeprefix("dns:///").removeprefix("ipv4:").removeprefix("ipv6:")
    if target.startswith("[") and "]" in target:
        return is_loopback_host(target[1 : target.index("]")])
    # A bare host, or HOST:PORT (an IPv6 literal without brackets is tried whole first).
    return is_loopback_host(target) or is_loopback_host(target.rsplit(":", 1)[0])
