"""Test support: a real operator directory and a running server, in-process.

`MSS_TEST_DATABASE_URL` selects the database: unset or `sqlite...` gives the
embedded SQLite under the operator directory; a `postgresql://...` URL gives a
fresh database created on that server for each operator (dropped afterwards).

A running operator's relay asks a DNS server of its own on loopback
(`tests.dns_server`) that answers SERVFAIL to every question: mail for a domain
without a `relay.transport` route waits in the queue (a temporary failure), as
it would while DNS is down, whatever the machine's own resolver says (no test
asks the real DNS; a test that routes by DNS fills `op.dns.names`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from imap_store.store.interfaces import Principal
from server import config as config_mod
from server.app import Running, start, stop
from server.initdir import InitOptions, init_directory
from server.trust import import_trust_list
from tests.dns_server import DnsServer
from tests.error_guard import watch_running_loop

DOMAIN = "op-a.mssante.fr"
FIXTURES = Path(__file__).parent / "fixtures"
REAL_TRUST_LIST = FIXTURES / "listeblanchemssante.xml"
PASSWORD = "correct horse battery staple"


def test_database_url() -> str:
    return os.environ.get("MSS_TEST_DATABASE_URL", "") or "sqlite:///data/mss.sqlite3"


def is_postgres() -> bool:
    return test_database_url().startswith("postgresql")


async def create_pg_database() -> tuple[str, str]:
    base = test_database_url()
    name = f"mss_test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    return url, name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(test_database_url().replace("postgresql+asyncpg://",
                                                             "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def set_ports_to_zero(cfg_path: Path) -> None:
    text = cfg_path.read_text()
    cfg_path.write_text(re.sub(r"(?m)^port = \d+$", "port = 0", text))


@dataclass
class Operator:
    """An initialised operator directory with its server running."""

    directory: Path
    cfg: config_mod.Config
    pg_name: str | None = None
    running: Running | None = None
    bals: dict[str, Principal] = field(default_factory=dict)
    dns: DnsServer | None = None

    @property
    def ports(self) -> dict[str, int]:
        assert self.running is not None
        return self.running.ports()

    @property
    def ca_file(self) -> Path:
        return self.directory / "certs" / "ca.pem"

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = True
        return ctx

    async def start(self) -> None:
        watch_running_loop()
        self.running = await start(self.cfg)
        if self.running.exchange is not None:
            self.dns = await DnsServer(otherwise="SERVFAIL").start()
            self.running.exchange.relay.resolver = self.dns.resolver()

    async def stop(self) -> None:
        if self.running is not None:
            await stop(self.running, grace=5.0)
            self.running = None
        if self.dns is not None:
            self.dns.close()
            self.dns = None

    async def import_trust_list(self, raw: bytes) -> None:
        """Store a trust-list version and make the running server use it now."""
        assert self.running is not None
        trust = self.running.services.trust
        await import_trust_list(trust.store, raw, "test")
        await trust.refresh()

    async def audit_rows(self, event: str, *, flush: bool = True) -> list[dict]:
        """The `detail` of the audit rows of `event`, oldest first; with `flush`, once the
        records the server queued (`DatabaseAuditSink.record_soon`, written within
        0.1 s) are written, so a test reads what the exchange it just made left."""
        assert self.running is not None
        if flush:
            await self.running.services.audit.flush()
        async with self.running.services.db.read() as s:
            rows = (await s.execute(text(
                "SELECT detail FROM audit WHERE event = :e ORDER BY id"), {"e": event})).all()
        return [json.loads(r[0]) for r in rows]

    async def add_bal(self, local: str, bal_type: str = "PER", password: str = PASSWORD) -> str:
        assert self.running is not None
        address = f"{local}@{DOMAIN}"
        extra = {"rpps": "10000000001"} if bal_type == "PER" else {"structure_id": "S1"}
        info = await self.running.services.accounts.create_bal(
            address, bal_type, password=password, **extra)
        self.bals[address] = Principal(info.id, info.address, info.bal_type)
        return address


async def make_operator(tmp_path: Path, *, dev_ports: bool = False,
                        extra_toml: str = "") -> Operator:
    url, pg_name = None, None
    if is_postgres():
        url, pg_name = await create_pg_database()
    directory = tmp_path / "op"
    opts = InitOptions(directory, DOMAIN, hostname="localhost", dev_ports=dev_ports,
                       database_url=url)
    await asyncio.to_thread(init_directory, opts)
    set_ports_to_zero(directory / "mss.toml")
    if extra_toml:
        with (directory / "mss.toml").open("a") as fh:
            fh.write("\n" + extra_toml + "\n")
    cfg = config_mod.load(directory / "mss.toml")
    return Operator(directory, cfg, pg_name)


@asynccontextmanager
async def serving(op: Operator) -> AsyncIterator[Operator]:
    """Start `op`, yield it, then stop it and drop its PostgreSQL database if any."""
    await op.start()
    try:
        yield op
    finally:
        await op.stop()
        if op.pg_name:
            await drop_pg_database(op.pg_name)
