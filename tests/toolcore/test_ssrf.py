"""The SSRF guard: non-public destinations are refused unless allowlisted, after DNS, and the
address checked is the one connected to. No real DNS: the resolver seam is replaced."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from daarion.common import safe_http
from daarion.common.safe_http import address_is_public, host_is_allowlisted, is_legacy_numeric_ipv4
from tests.toolcore.factories import call, make_http_tool
from toolcore.models import ToolCall


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        # Passed before (ipaddress calls them global): IPv4-compatible, SIIT, local-use NAT64.
        "::127.0.0.1",
        "::169.254.169.254",
        "::ffff:0:127.0.0.1",
        "::ffff:0:10.0.0.1",
        "64:ff9b:1::127.0.0.1",
        "64:ff9b:1:7f00:1::",
    ],
)
def test_non_public_addresses(address):
    assert not address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address):
    assert address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0x7f.1"])
def test_legacy_numeric_forms_are_recognised(host):
    assert is_legacy_numeric_ipv4(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "example.com", "::1", "1e100.net", "a.b"])
def test_ordinary_hosts_are_not_legacy_numeric(host):
    assert not is_legacy_numeric_ipv4(host)


def test_allowlist_matching():
    allowed = ["projects.internal", "127.0.0.1:8080", "*.svc.cluster.local", "[::1]"]
    assert host_is_allowlisted("projects.internal", 443, allowed)
    assert host_is_allowlisted("PROJECTS.internal.", 80, allowed)
    assert host_is_allowlisted("127.0.0.1", 8080, allowed)
    assert not host_is_allowlisted("127.0.0.1", 8081, allowed)
    assert host_is_allowlisted("api.svc.cluster.local", 80, allowed)
    assert host_is_allowlisted("::1", 80, allowed)
    assert not host_is_allowlisted("evil.com", 80, allowed)
    assert not host_is_allowlisted("projects.internal.evil.com", 80, allowed)


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers from a table instead of real DNS; records what was looked up."""
    table: dict[str, list[str]] = {}
    lookups: list[str] = []

    async def getaddrinfo(host, port, family):
        lookups.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port, 0, 0) if ":" in ip else (ip, port),
            )
            for ip in table[host]
        ]

    monkeypatch.setattr(safe_http, "getaddrinfo", getaddrinfo)
    return table, lookups


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "169.254.169.254",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "0x7f000001",
        "private.example",
        "rebind.example",
    ],
)
def test_blocked_when_not_allowlisted(tool_server, agent, settings, fake_dns, host):
    settings.TOOLCORE_ALLOWED_HOSTS = []
    table, _ = fake_dns
    table["private.example"] = ["10.0.0.7"]
    table["rebind.example"] = ["93.184.216.34", "127.0.0.1"]  # one bad answer fails the name
    port = _port(tool_server.url)
    make_http_tool(url_template=f"http://{host}:{port}/projects", grant_to=agent)
    outcome = call(agent, "echo_tool")
    assert outcome.error is not None and outcome.error.type == "upstream_error"
    assert outcome.error.details.get("reason") == "blocked_destination", outcome.error
    assert not tool_server.requests  # nothing reached the server
    assert ToolCall.objects.get(call_id=outcome.call_id).outcome == "upstream_error"


@pytest.mark.django_db
def test_hostname_resolving_to_loopback_is_blocked(tool_server, agent, settings, fake_dns):
    settings.TOOLCORE_ALLOWED_HOSTS = []
    table, lookups = fake_dns
    table["tools.example"] = ["127.0.0.1"]
    make_http_tool(
        url_template=f"http://tools.example:{_port(tool_server.url)}/projects", grant_to=agent
    )
    outcome = call(agent, "echo_tool")
    assert outcome.error.details["reason"] == "blocked_destination"
    assert lookups == ["tools.example"]
    assert not tool_server.requests


@pytest.mark.django_db
def test_allowlisted_hostname_connects_to_the_address_it_resolved(
    tool_server, agent, settings, fake_dns
):
    settings.TOOLCORE_ALLOWED_HOSTS = ["tools.example"]
    table, lookups = fake_dns
    table["tools.example"] = ["127.0.0.1"]
    make_http_tool(
        url_template=f"http://tools.example:{_port(tool_server.url)}/projects", grant_to=agent
    )
    outcome = call(agent, "echo_tool")
    assert outcome.ok, outcome.error
    assert lookups == ["tools.example"]
    assert tool_server.requests[-1]["headers"]["Host"].startswith("tools.example")


@pytest.mark.django_db
def test_allowlisting_an_address_does_not_allow_its_other_spellings(tool_server, agent, settings):
    settings.TOOLCORE_ALLOWED_HOSTS = ["127.0.0.1"]
    make_http_tool(
        url_template=f"http://2130706433:{_port(tool_server.url)}/projects", grant_to=agent
    )
    outcome = call(agent, "echo_tool")
    assert outcome.error.details["reason"] == "blocked_destination"
    assert not tool_server.requests
