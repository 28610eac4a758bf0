"""The relay routed by DNS: operator A has no transport entry for B's domain and finds
B's MX through a real DNS server on loopback (`tests.dns_server`, dnspython's asyncio
resolver pointed at it), on `[relay] mx_port`. A domain DNS says does not exist or
publishes a null MX gives the sender a failure notice at once; a SERVFAIL defers.

Ref: R4, R7; RFC 5321 5.1, 4.5.4.1; RFC 7505; acceptance case 1 of the exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from server import config as config_mod
from tests.dns_server import DnsServer
from tests.exchange_support import (
    DOMAIN_A,
    DOMAIN_B,
    DOMAIN_C,
    Pki,
    add_bal,
    free_port,
    make_peer,
    standard_trust_list,
)
from tests.integration.helpers import fetch_all, send, strip_trace
from tests.protocol.smtp_client import simple_message
from tests.support import Operator, drop_pg_database

ALICE, BOB, CAROL = f"alice@{DOMAIN_A}", f"bob@{DOMAIN_B}", f"carol@{DOMAIN_C}"


@dataclass
class Setup:
    a: Operator
    b: Operator
    dns: DnsServer


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    """A routes by DNS only (`mx_port` = B's MX port); B routes to A by its transport map."""
    pki = Pki.create(tmp_path / "pki")
    port_a, port_b = free_port(), free_port()
    a = await make_peer(tmp_path, pki, DOMAIN_A, mx_port=port_a,
                        relay="transport = {}\nretry_base = 1\nretry_max = 2\n")
    path = a.directory / "mss.toml"
    toml = path.read_text()
    assert toml.count("mx_port = 25") == 1
    path.write_text(toml.replace("mx_port = 25", f"mx_port = {port_b}"))
    a.cfg = config_mod.load(path)
    assert a.cfg.relay.mx_port == port_b and a.cfg.relay.transport == {}
    b = await make_peer(tmp_path, pki, DOMAIN_B, mx_port=port_b,
                        relay=f'transport = {{ "{DOMAIN_A}" = "127.0.0.1:{port_a}" }}\n')
    dns = await DnsServer().start()
    try:
        for op, bal in ((a, ALICE), (b, BOB)):
            await op.start()
            await op.import_trust_list(standard_trust_list())
            await add_bal(op, bal)
        assert a.running is not None and a.running.exchange is not None
        a.running.exchange.relay.resolver = dns.resolver()  # NXDOMAIN for unknown names
        yield Setup(a, b, dns)
    finally:
        dns.close()
        for op in (a, b):
            await op.stop()
            if op.pg_name:
                await drop_pg_database(op.pg_name)


async def _wait_for(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not (got := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
    return got


async def _queue(op: Operator) -> list[tuple[str, int]]:
    assert op.running is not None
    async with op.running.services.db.read() as s:
        rows = (await s.execute(text(
            "SELECT recipients, attempts FROM outbound_queue ORDER BY id"))).all()
    return [(r[0], r[1]) for r in rows]


async def _inbox(op: Operator, user: str) -> list[bytes]:
    async def check() -> list[bytes] | None:
        found = list((await fetch_all(op, user)).values())
        return found or None
    return await _wait_for(check)


async def test_delivered_to_the_mx_dns_names(setup: Setup) -> None:
    setup.dns.names[DOMAIN_B] = {"MX": ["10 localhost.", "20 nowhere.invalid."]}
    message = simple_message(ALICE, BOB, subject="by MX")
    await send(setup.a, ALICE, [BOB], message)
    stored = await _inbox(setup.b, BOB)
    assert len(stored) == 1 and strip_trace(stored[0])[1] == message
    assert (DOMAIN_B, "MX") in setup.dns.questions
    delivered = await _wait_for(lambda: setup.a.audit_rows("relay.delivered"))
    assert [d["to"] for d in delivered] == [BOB]
    assert delivered[0]["peer_subject"] == f"CN=localhost,O=mss-server {DOMAIN_B},C=FR"
    assert await _wait_for(lambda: _empty(setup.a))


async def _empty(op: Operator) -> bool:
    return await _queue(op) == []


@pytest.mark.parametrize(("zone", "reason", "status"), [
    ({}, "does not exist", b"5.1.2"),
    ({DOMAIN_C: {"MX": ["0 ."]}}, "null MX", b"5.1.10"),  # RFC 7505 4.2
])
async def test_a_domain_dns_rules_out_gets_a_notice_at_once(
        setup: Setup, zone: dict[str, dict[str, list[str]]], reason: str,
        status: bytes) -> None:
    setup.dns.names.update(zone)
    await send(setup.a, ALICE, [CAROL], simple_message(ALICE, CAROL, subject="to carol"))
    notice = (await _inbox(setup.a, ALICE))[0]
    assert CAROL.encode() in notice and b"Status: " + status + b"\r\n" in notice
    failed = await _wait_for(lambda: setup.a.audit_rows("relay.failed"))
    assert [(f["to"], f["notice"]) for f in failed] == [(CAROL, True)]
    assert reason in failed[0]["reason"]
    assert await setup.a.audit_rows("relay.deferred") == []
    assert await _wait_for(lambda: _empty(setup.a))


async def test_servfail_defers_and_the_message_waits(setup: Setup) -> None:
    setup.dns.failures[DOMAIN_C] = "SERVFAIL"
    await send(setup.a, ALICE, [CAROL], simple_message(ALICE, CAROL, subject="to carol"))
    deferred = await _wait_for(lambda: setup.a.audit_rows("relay.deferred"))
    assert deferred[0]["to"] == CAROL and "MX look-up" in deferred[0]["reason"]
    queued = await _queue(setup.a)
    assert len(queued) == 1 and CAROL in queued[0][0]
    assert await setup.a.audit_rows("relay.failed") == []
    assert await fetch_all(setup.a, ALICE) == {}
