"""`tls_facts` on a real TLS session (a socket pair, Python's OpenSSL on both sides):
the peer subject the audit records is the DN as the policy writes it.

Ref: R5, R6, R24; RFC 4514 2.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from imap_store.store.tls_facts import tls_facts
from policy.operator_dn import format_dn
from smtp_gateway.tls_session import peer_dn, tls_description

SUBJECT = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GIP, Santé"),
    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "318751275100020"),
    x509.NameAttribute(NameOID.SERIAL_NUMBER, "12345"),
    x509.NameAttribute(NameOID.COMMON_NAME, "mx.op-a.mssante.fr"),
])


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(SUBJECT).issuer_name(SUBJECT)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "peer.pem", tmp / "peer.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _session(tmp: Path, *, client_cert: bool) -> dict[str, object]:
    """Server side facts of one handshake; the client presents the certificate if asked."""
    cert, key = _self_signed(tmp)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    server.load_verify_locations(cert)
    server.verify_mode = ssl.CERT_OPTIONAL
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert)
    if client_cert:
        client.load_cert_chain(cert, key)
    a, b = socket.socketpair()
    seen: dict[str, object] = {}

    def serve() -> None:
        with server.wrap_socket(a, server_side=True) as tls:
            tls.recv(1)
            seen.update(facts=tls_facts(tls), dn=peer_dn(tls), trace=tls_description(tls))

    worker = threading.Thread(target=serve)
    worker.start()
    with client.wrap_socket(b, server_hostname="localhost") as tls:
        tls.sendall(b"x")
        worker.join(10)
    return seen


def test_the_audited_subject_is_the_dn_the_policy_compares(tmp_path: Path) -> None:
    seen = _session(tmp_path, client_cert=True)
    facts = seen["facts"]
    assert isinstance(facts, dict)
    assert facts["peer_subject"] == (
        "CN=mx.op-a.mssante.fr,SERIALNUMBER=12345,OU=318751275100020,O=GIP\\, Santé,C=FR")
    dn = seen["dn"]
    assert dn is not None and facts["peer_subject"] == format_dn(dn)  # type: ignore[arg-type]
    assert facts["protocol"] in ("TLSv1.2", "TLSv1.3") and facts["cipher"]
    assert seen["trace"] == f"version={facts['protocol']} cipher={facts['cipher']}"


def test_no_client_certificate_no_subject(tmp_path: Path) -> None:
    facts = _session(tmp_path, client_cert=False)["facts"]
    assert isinstance(facts, dict) and facts["peer_subject"] == ""
    assert tls_facts(None) == {}
