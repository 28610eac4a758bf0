"""The relay's DNS routing, through dnspython's asyncio resolver and a real DNS server
on loopback (`tests.dns_server`).

MX hosts in preference order on `mx_port`; the implicit MX (no MX record, an
address record); the permanent failures (NXDOMAIN, no MX and no address, a
null MX) and the temporary ones (SERVFAIL, time-out); the transport map
still comes first.

Ref: RFC 5321 5.1 (locating the target host), 4.5.4.1; RFC 7505 (null MX).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from smtp_gateway.relay.routing import (
    MAX_ROUTES,
    NoRoute,
    Route,
    Unroutable,
    routes_for,
)
from tests.dns_server import DnsServer


@pytest.fixture
async def dns() -> AsyncIterator[DnsServer]:
    server = await DnsServer().start()
    try:
        yield server
    finally:
        server.close()


async def _routes(dns: DnsServer, domain: str, mx_port: int = 25) -> list[Route]:
    return await routes_for(domain, {}, mx_port=mx_port, resolver=dns.resolver())


async def test_mx_hosts_in_preference_order_on_mx_port(dns: DnsServer) -> None:
    dns.names["op-b.test"] = {"MX": ["20 backup.op-b.test.", "5 mx1.op-b.test.",
                                     "10 mx2.op-b.test."]}
    assert await _routes(dns, "op-b.test", mx_port=2525) == [
        Route("mx1.op-b.test", 2525), Route("mx2.op-b.test", 2525),
        Route("backup.op-b.test", 2525)]
    assert ("op-b.test", "MX") in dns.questions


async def test_equal_preferences_all_kept_and_the_answer_bounded(dns: DnsServer) -> None:
    dns.names["many.test"] = {"MX": [f"10 mx{i}.many.test." for i in range(30)]}
    routes = await _routes(dns, "many.test")
    assert len(routes) == MAX_ROUTES
    assert len(set(routes)) == MAX_ROUTES
    assert all(r.host.startswith("mx") and r.port == 25 for r in routes)


@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
async def test_no_mx_record_the_domain_itself_is_the_implicit_mx(
        dns: DnsServer, rdtype: str) -> None:
    dns.names["plain.test"] = {rdtype: ["127.0.0.1" if rdtype == "A" else "::1"]}
    assert await _routes(dns, "plain.test", mx_port=2600) == [Route("plain.test", 2600)]


async def test_nxdomain_is_permanent(dns: DnsServer) -> None:
    with pytest.raises(Unroutable, match="does not exist"):
        await _routes(dns, "nowhere.test")


async def test_no_mx_and_no_address_is_permanent(dns: DnsServer) -> None:
    dns.names["empty.test"] = {"TXT": ['"v=spf1 -all"']}
    with pytest.raises(Unroutable, match="no MX and no address"):
        await _routes(dns, "empty.test")
    assert [q for q in dns.questions if q[0] == "empty.test"] == [
        ("empty.test", "MX"), ("empty.test", "A"), ("empty.test", "AAAA")]


async def test_null_mx_is_permanent(dns: DnsServer) -> None:
    dns.names["nomail.test"] = {"MX": ["0 ."], "A": ["127.0.0.1"]}
    with pytest.raises(Unroutable, match="null MX"):
        await _routes(dns, "nomail.test")


@pytest.mark.parametrize("failure", ["SERVFAIL", "TIMEOUT"])
async def test_servfail_and_timeout_are_temporary(dns: DnsServer, failure: str) -> None:
    dns.names["flaky.test"] = {"MX": ["10 mx.flaky.test."]}
    dns.failures["flaky.test"] = failure
    with pytest.raises(NoRoute, match="MX look-up for flaky.test failed"):
        await _routes(dns, "flaky.test")


async def test_a_temporary_failure_of_the_address_look_up_is_temporary(
        dns: DnsServer) -> None:
    dns.names["half.test"] = {}
    dns.failures["half.test"] = "SERVFAIL"
    with pytest.raises(NoRoute):
        await _routes(dns, "half.test")


async def test_the_transport_map_comes_before_dns(dns: DnsServer) -> None:
    dns.names["op-b.test"] = {"MX": ["10 mx1.op-b.test."]}
    routes = await routes_for("op-b.test", {"op-b.test": "127.0.0.1:2526"},
                              mx_port=2600, resolver=dns.resolver())
    assert routes == [Route("127.0.0.1", 2526)]
    assert dns.questions == []
