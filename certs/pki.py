"""The PKI code of `mss init`: a development CA and operator server certificates.

Owns: `make_ca` (a self-signed RSA CA), `make_server_cert` (an operator
server certificate issued by a CA), `load_ca` (an existing CA, for
`mss init --ca-cert F --ca-key F`: one CA issuing for several operators, so
they trust each other) and `write_private` (key files created 0600).

Invariants:
- the server certificate carries both serverAuth and clientAuth, so the same
  certificate can be presented as a client certificate to another operator
  (R4), and SANs for localhost, 127.0.0.1 and the host name;
- keys are RSA because the ANS TLS 1.2 suites are ECDHE-RSA (R6);
- a private key is never written with wider permissions than 0600, not even
  for a moment.

Production certificates come from IGC-Santé and are configured, not made here
(R7; `certs/README.md` says which file goes in which `[tls]` key).

Ref: R4, R6, R7; RFC 5280 4.2.1.3, 4.2.1.6, 4.2.1.12 (key usage, SAN,
extended key usage); docs/architecture.md "Files".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_BITS = 2048


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes
    subject: str


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(org: str, days: int = 3650) -> Issued:
    key = _key()
    name = _name(f"{org} development CA", org)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key),
                  cert.subject.rfc4514_string())


def _sans(hostname: str) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(hostname)))
    except ValueError:
        if hostname != "localhost":
            names.append(x509.DNSName(hostname))
    return x509.SubjectAlternativeName(names)


def make_server_cert(ca: Issued, hostname: str, org: str, days: int = 825) -> Issued:
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = _key()
    now = dt.datetime.now(dt.UTC)
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    cert = (x509.CertificateBuilder().subject_name(_name(hostname, org))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(eku, critical=False)
            .add_extension(_sans(hostname), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key),
                  cert.subject.rfc4514_string())


def load_ca(cert_file: Path, key_file: Path) -> Issued:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return Issued(cert_file.read_bytes(), key_file.read_bytes(), cert.subject.rfc4514_string())


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file with mode 0600 from the start (no window with wider modes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)
