"""`mss dkim keygen`: the operator's DKIM key and the DNS record that publishes it.

Writes a new RSA key (PKCS#1 PEM, mode 0600) to `[dkim] key` and prints, for
each local domain, the TXT record to publish at `<selector>._domainkey.<domain>`
(`[dkim] selector`), its value split in strings of at most 255 characters
(RFC 1035 3.3.14). An existing key file is kept unless `--force` is given
(exit 1): replacing it breaks the signatures of mail still in transit until
the new record is published. `--json` prints one object per domain.
`load_signer` gives the relay the signer of this key (None before keygen).

Ref: RFC 6376 3.6.1 (key record), 3.6.2.1 (its name); R4; docs/architecture.md
"Contracts" (verbs, exit codes).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from smtp_gateway.dkim import DkimSigner

from .cli_output import fail
from .config import Config

KEY_BITS = (2048, 3072, 4096)


def add_dkim_parsers(sub: Any) -> None:
    d = sub.add_parser("dkim", help="the operator's DKIM key").add_subparsers(
        dest="dkim_verb", required=True, metavar="ACTION")
    keygen = d.add_parser("keygen", help="write a new DKIM key and print its DNS record")
    keygen.add_argument("--bits", type=int, choices=KEY_BITS, default=2048)
    keygen.add_argument("--force", action="store_true", help="replace an existing key")
    keygen.set_defaults(func=_keygen)


def new_key(bits: int) -> tuple[bytes, str]:
    """A private key (PKCS#1 PEM, as dkimpy reads it) and its public key, base64 DER."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(der).decode()


def txt_value(public_b64: str) -> str:
    """The key record's value (RFC 6376 3.6.1)."""
    return f"v=DKIM1; k=rsa; p={public_b64}"


def zone_line(selector: str, domain: str, value: str) -> str:
    """The record as a zone-file line, its value in strings of at most 255 characters."""
    strings = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    return f"{selector}._domainkey.{domain}. IN TXT ( {strings} )"


def _write_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


async def _keygen(args: argparse.Namespace, cfg: Config) -> int:
    path = cfg.resolve(cfg.dkim.key)
    if path.exists() and not args.force:
        return fail(f"dkim.key: {path} exists (use --force to replace it)", 1)
    pem, public = new_key(args.bits)
    _write_private(path, pem)
    value = txt_value(public)
    for domain in cfg.server.domains:
        if args.json:
            print(json.dumps({"name": f"{cfg.dkim.selector}._domainkey.{domain}",
                              "type": "TXT", "value": value, "key_file": str(path)}))
        else:
            print(zone_line(cfg.dkim.selector, domain, value))
    return 0


def load_signer(cfg: Config) -> DkimSigner | None:
    """The operator's signer from `[dkim]`, None when no key was generated yet."""
    path = cfg.resolve(cfg.dkim.key)
    if not path.exists():
        return None
    return DkimSigner(selector=cfg.dkim.selector, private_key=path.read_bytes())
