"""Test support for the exchange between operators: one test CA, operators made by
`mss init --ca-cert --ca-key` from it, peer certificates good and bad, CRLs, and the
ANS trust list naming the operators' DNs.

Each operator is a real directory and a real server (SQLite, or a fresh PostgreSQL
database under `MSS_TEST_DATABASE_URL`), its MX on a port chosen before start so that
a peer's `[relay] transport` can name it across restarts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import random
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.pki import Issued, load_ca, make_ca, make_server_cert
from server import config as config_mod
from server.initdir import InitOptions, init_directory
from tests.support import PASSWORD, Operator, create_pg_database, is_postgres, set_ports_to_zero

DOMAIN_A = "op-a.mssante.fr"
DOMAIN_B = "op-b.mssante.fr"
DOMAIN_C = "op-c.mssante.fr"


def _ephemeral_ports() -> range:
    """The ports the kernel gives to sockets bound to port 0 and to outgoing connections."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


_HANDED_OUT: set[int] = set()
"""Ports `free_port` gave: never given twice in one test process (two operators of one
test once drew the same port, and the second could not bind it)."""


def free_port() -> int:
    """A loopback port free now, to be bound later (an MX named in a peer's transport).

    Chosen outside the kernel's ephemeral range: a port taken from that range and
    released can be handed, before the test binds it, to one of the test's own outgoing
    connections (a database connection), and the bind then fails."""
    ephemeral = _ephemeral_ports()
    candidates = [p for p in range(20000, 32768) if p not in ephemeral] or list(range(1024, 20000))
    for port in random.sample(candidates, 200):
        if port in _HANDED_OUT:  # free now, but promised to an earlier caller, which binds it later
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free loopback port outside the ephemeral range")


def org_dn(domain: str) -> str:
    """The subject DN `mss init` gives an operator of `domain` on host localhost."""
    return f"CN=localhost,O=mss-server {domain},C=FR"


@dataclass
class Pki:
    """One test CA (files on disk, as `mss init --ca-cert --ca-key` takes them)."""

    directory: Path
    ca: Issued

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @classmethod
    def create(cls, directory: Path) -> Pki:
        directory.mkdir(parents=True, exist_ok=True)
        ca = make_ca("MSS test")
        (directory / "ca.pem").write_bytes(ca.cert_pem)
        (directory / "ca.key").write_bytes(ca.key_pem)
        return cls(directory, load_ca(directory / "ca.pem", directory / "ca.key"))

    def issue(self, name: str, org: str, *, expired: bool = False,
              ca: Issued | None = None) -> tuple[Path, Path, x509.Certificate]:
        """A certificate for localhost (files `name.pem`, `name.key`); `expired` gives one
        whose validity ended yesterday; `ca` another issuer."""
        issued = make_server_cert(ca or self.ca, "localhost", org)
        cert = x509.load_pem_x509_certificate(issued.cert_pem)
        if expired:
            issued, cert = self._expired(org, ca or self.ca)
        pem, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        pem.write_bytes(issued.cert_pem)
        key.write_bytes(issued.key_pem)
        return pem, key, cert

    @staticmethod
    def _expired(org: str, ca: Issued) -> tuple[Issued, x509.Certificate]:
        ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
        ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
        assert isinstance(ca_key, rsa.RSAPrivateKey)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                          x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=30))
                .not_valid_after(now - dt.timedelta(days=1))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
                .sign(ca_key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem,
                      cert.subject.rfc4514_string()), cert

    def crl(self, revoked: list[x509.Certificate], path: Path,
            next_update: dt.timedelta = dt.timedelta(days=7)) -> Path:
        """A CRL of the test CA revoking `revoked`, written PEM to `path`."""
        ca_cert = x509.load_pem_x509_certificate(self.ca.cert_pem)
        ca_key = serialization.load_pem_private_key(self.ca.key_pem, password=None)
        assert isinstance(ca_key, rsa.RSAPrivateKey)
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
                   .last_update(min(now - dt.timedelta(minutes=5),
                                    now + next_update - dt.timedelta(hours=1)))
                   .next_update(now + next_update))
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                .revocation_date(now - dt.timedelta(minutes=1)).build())
        crl = builder.sign(ca_key, hashes.SHA256())
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return path


def trust_list_xml(entries: list[tuple[str, str]], generated: str = "2026-01-01T00:00:00Z",
                   ) -> bytes:
    """An ANS liste blanche naming (domain, operator DN) pairs."""
    domains = "".join(
        f"<Domaine><Nom>{escape(d)}</Nom><Description>test</Description>"
        f"<DNCertificatOperateur>{escape(dn)}</DNCertificatOperateur>"
        f"<ResponsableContact>x</ResponsableContact><SupportContact>x</SupportContact>"
        f"<DateMAJ>{generated}</DateMAJ></Domaine>" for d, dn in entries)
    return (f'<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante '
            f'xmlns="https://listeblanche.mssante.fr/schema"><DateDeGeneration>{generated}'
            f"</DateDeGeneration><ListeDomaines>{domains}</ListeDomaines>"
            f"</ListeBlancheMSSante>").encode()


def standard_trust_list() -> bytes:
    return trust_list_xml([(DOMAIN_A, org_dn(DOMAIN_A)), (DOMAIN_B, org_dn(DOMAIN_B)),
                           (DOMAIN_C, org_dn(DOMAIN_C))])


async def make_peer(root: Path, pki: Pki, domain: str, *, mx_port: int,
                    relay: str = "", crl: Path | None = None) -> Operator:
    """An operator of `domain` whose certificate the test CA issued (`mss init
    --ca-cert --ca-key`), its MX on `mx_port`; `relay` replaces the `[relay]` keys."""
    url, pg_name = None, None
    if is_postgres():
        url, pg_name = await create_pg_database()
    directory = root / domain
    opts = InitOptions(directory, domain, hostname="localhost", database_url=url,
                       ca_cert=pki.ca_cert, ca_key=pki.ca_key)
    issued = await asyncio.to_thread(init_directory, opts)
    assert issued.subject == org_dn(domain)
    path = directory / "mss.toml"
    set_ports_to_zero(path)
    text = path.read_text()
    if relay:
        text = text.replace("[relay]\ntransport = {}\n", "[relay]\n" + relay, 1)
    if crl is not None:
        text = text.replace("crl = []", f'crl = ["{crl}"]', 1)
    start = text.index("[listeners.smtp]")
    end = text.index("port = 0", start)
    path.write_text(text[:end] + f"port = {mx_port}" + text[end + len("port = 0"):]
                    )
    return Operator(directory, config_mod.load(path), pg_name)


async def add_bal(op: Operator, address: str) -> str:
    assert op.running is not None
    await op.running.services.accounts.create_bal(address, "PER", password=PASSWORD,
                                                  rpps="10000000001")
    return address


def peer_context(op: Operator, cert: Path | None = None,
                 key: Path | None = None) -> ssl.SSLContext:
    """A client context trusting the test CA, presenting `cert` when given."""
    ctx = ssl.create_default_context(cafile=str(op.ca_file))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx
