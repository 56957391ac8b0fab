"""Outbound HTTP that cannot be pointed at the inside of the network (SSRF guard).

A request may only reach a public address unless its host is allowlisted. The check happens
where the address is decided, so the address checked is the address connected to:

- an IP literal in the URL is checked before the request is sent (aiohttp skips DNS for it);
  non-canonical numeric IPv4 forms (`2130706433`, `0x7f000001`, `0177.1`, `127.1`) are refused
  outright, since resolvers disagree on what they mean;
- a host name is resolved by `GuardedResolver`, which aiohttp's connector uses for every new
  connection: if any resolved address is not public, the lookup fails and nothing is connected.
  The connector's DNS cache is off, so a rebinding answer cannot outlive the check.

"Not public": private, loopback, link-local (cloud metadata lives at 169.254.169.254),
carrier-grade NAT, multicast, reserved, unspecified, and IPv6 forms that embed such an IPv4
address (IPv4-mapped, NAT64, 6to4, Teredo). The allowlist names hosts (`host`, `host:port` or
`*.suffix`), never addresses behind names, and is read on every request so settings changes apply.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from daarion.common.http import DEFAULT_LIMITS, make_async_client

AllowedHosts = Callable[[], Iterable[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata endpoints that are not covered by "not global" on every Python version.
_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IPv6 forms that carry an IPv4 address but that `ipaddress` calls global: IPv4-compatible
# (::a.b.c.d, deprecated by RFC 4291), SIIT's IPv4-translated (::ffff:0:a.b.c.d, RFC 2765) and
# local-use NAT64 (64:ff9b:1::/48, RFC 8215, never globally routed). None is a legitimate public
# destination, so each is refused whatever address it embeds.
_NEVER_PUBLIC_V6 = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


class BlockedDestination(OSError):
    """The destination is not public and not allowlisted. The message names host, not secrets."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _NEVER_PUBLIC_V6):
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None and not address_is_public(embedded):
            return False
    if address in _METADATA_ADDRESSES:
        return False
    return address.is_global and not address.is_multicast


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address if `host` is a canonical IP literal (brackets and zone id allowed)."""
    candidate = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def is_legacy_numeric_ipv4(host: str) -> bool:
    """True for inet_aton forms besides dotted quad: 2130706433, 0x7f000001, 127.1, 0177.0.0.1."""
    if parse_ip_literal(host) is not None or not host:
        return False
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return False
    for part in parts:
        lowered = part.lower()
        if lowered.startswith("0x"):
            digits, base = lowered[2:], 16
        elif len(lowered) > 1 and lowered.startswith("0"):
            digits, base = lowered[1:], 8
        else:
            digits, base = lowered, 10
        try:
            int(digits or "0", base)
        except ValueError:
            return False
    return True


def host_is_allowlisted(host: str, port: int | None, allowed: Iterable[str]) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    for entry in allowed:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
            continue
        entry_host, entry_port = _split_host_port(entry)
        if entry_host == host and (entry_port is None or entry_port == port):
            return True
    return False


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1] or [::1]:8080
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def check_url_destination(url: httpx.URL, allowed: Iterable[str]) -> None:
    """Refuse a URL whose literal host is not public (names are checked by the resolver)."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    if url.scheme not in ("http", "https"):
        raise BlockedDestination(f"Scheme '{url.scheme}' is not allowed.")
    if not host:
        raise BlockedDestination("The URL has no host.")
    if is_legacy_numeric_ipv4(host):
        raise BlockedDestination(f"Host '{host}' is a non-canonical numeric IP address.")
    if host_is_allowlisted(host, port, allowed):
        return
    address = parse_ip_literal(host)
    if address is not None and not address_is_public(address):
        raise BlockedDestination(f"Host '{host}' is a non-public address and is not allowlisted.")


async def getaddrinfo(host: str, port: int, family: int) -> list[tuple]:
    """The system resolver (a seam tests replace; they never do real DNS)."""
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that fails a lookup when a resolved address is not public."""

    def __init__(self, allowed_hosts: AllowedHosts) -> None:
        self._allowed_hosts = allowed_hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if is_legacy_numeric_ipv4(host):
            raise BlockedDestination(f"Host '{host}' is a non-canonical numeric IP address.")
        infos = await getaddrinfo(host, port, family)
        allowlisted = host_is_allowlisted(host, port, self._allowed_hosts())
        results: list[ResolveResult] = []
        for info_family, _, proto, _, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if not allowlisted and not address_is_public(address):
                # One bad answer fails the whole name: no partial, rebinding-friendly results.
                raise BlockedDestination(
                    f"Host '{host}' resolves to a non-public address and is not allowlisted."
                )
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(address),
                    port=int(sockaddr[1]),
                    family=info_family,
                    proto=proto,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            )
        if not results:
            raise OSError(f"Host '{host}' did not resolve.")
        return results

    async def close(self) -> None:
        return None


class GuardedTransport(AiohttpTransport):
    """httpx-aiohttp transport whose connector resolves through `GuardedResolver`."""

    def __init__(self, *, allowed_hosts: AllowedHosts, limits: httpx.Limits) -> None:
        self._allowed_hosts = allowed_hosts
        super().__init__(limits=limits, trust_env=False, client=self._make_session)

    def _make_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._allowed_hosts),
            use_dns_cache=False,
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url_destination(request.url, self._allowed_hosts())
        return await super().handle_async_request(request)


def make_safe_async_client(
    *,
    timeout: float | httpx.Timeout,
    allowed_hosts: AllowedHosts,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpx.AsyncClient:
    """A `make_async_client` client (timeout mandatory, no redirects) with the SSRF guard.

    Like every aiohttp-backed client it belongs to the event loop it first runs on.
    """
    return make_async_client(
        timeout=timeout,
        follow_redirects=False,
        limits=limits,
        transport=GuardedTransport(allowed_hosts=allowed_hosts, limits=limits),
    )


def blocked_destination_in(exc: BaseException) -> BlockedDestination | None:
    """The BlockedDestination behind an exception chain (aiohttp and httpx wrap it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BlockedDestination):
            return current
        os_error = getattr(current, "os_error", None)
        if isinstance(os_error, BlockedDestination):
            return os_error
        current = current.__cause__ or current.__context__
    return None
