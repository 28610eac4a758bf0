"""DKIM signing and verification (`smtp_gateway.dkim`) with dkimpy and a test DNS.

The key comes from `mss dkim keygen`'s own generator; the DNS is a dict behind
an async function, as the verifier's resolver is meant to be replaced. Signed
messages are checked by dkimpy's own verifier, then by ours: intact, a body or a
header changed, a key record missing or malformed, a DNS failure or timeout.

Ref: RFC 6376 3.5, 3.7, 6.1; RFC 8601 2.7.1; R4.
"""

from __future__ import annotations

import asyncio
import email
import email.policy

import dkim
import pytest

from server.cli_dkim import new_key, txt_value, zone_line
from smtp_gateway.dkim import (
    DkimOutcome,
    DkimSigner,
    DnsUnavailable,
    authentication_results,
    signing_domain,
    verify,
)

DOMAIN = "op-a.mssante.fr"
MESSAGE = (b"From: Dr A <dr.a@op-a.mssante.fr>\r\nTo: dr.b@op-b.mssante.fr\r\n"
           b"Subject: =?utf-8?q?R=C3=A9sultats?=\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
           b"Message-ID: <m1@op-a.mssante.fr>\r\n"
           b"Disposition-Notification-To: dr.a@op-a.mssante.fr\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\nR\xc3\xa9sultat normal.\r\n")
PEM, PUBLIC = new_key(2048)
SIGNER = DkimSigner(selector="mss", private_key=PEM)
RECORDS = {f"mss._domainkey.{DOMAIN}.": txt_value(PUBLIC).encode()}


def dns(records: dict[str, bytes]):  # type: ignore[no-untyped-def]
    async def resolve(name: str) -> bytes | None:
        return records.get(name)
    return resolve


async def test_signed_message_verifies_with_dkimpy_and_is_unchanged() -> None:
    signed = await SIGNER.signed(MESSAGE, DOMAIN)
    assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(MESSAGE)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: RECORDS.get(name.decode()))
    outcome = await verify(signed, dns(RECORDS))
    assert outcome.status == "pass"
    (only,) = outcome.signatures
    assert (only.domain, only.selector, len(only.b)) == (DOMAIN, "mss", 8)
    header = authentication_results(outcome, "mail.op-b.mssante.fr").decode()
    assert header.startswith("Authentication-Results: mail.op-b.mssante.fr;\r\n\tdkim=pass")
    assert f"header.d={DOMAIN} header.s=mss header.b={only.b}" in header
    parsed = email.message_from_bytes(header.encode() + b"\r\n", policy=email.policy.default)
    assert "dkim=pass" in str(parsed["Authentication-Results"])


@pytest.mark.parametrize("tamper", [
    lambda m: m.replace(b"normal", b"anormal"),
    lambda m: m.replace(b"Subject: =?utf-8?q?R=C3=A9sultats?=", b"Subject: autre"),
    lambda m: m.replace(b"From: Dr A", b"From: Dr Z"),
    lambda m: m.replace(b"MIME-Version", b"From: x@y.fr\r\nMIME-Version"),
])
async def test_tampered_message_fails(tamper) -> None:  # type: ignore[no-untyped-def]
    signed = tamper(await SIGNER.signed(MESSAGE, DOMAIN))
    assert not dkim.verify(signed, dnsfunc=lambda name, timeout=5: RECORDS.get(name.decode()))
    outcome = await verify(signed, dns(RECORDS))
    assert outcome.status == "fail"
    header = authentication_results(outcome, "mx.op-b").decode()
    assert "dkim=fail" in header and f"header.d={DOMAIN}" in header


async def test_missing_or_bad_key_is_permerror_dns_failure_temperror() -> None:
    signed = await SIGNER.signed(MESSAGE, DOMAIN)
    assert (await verify(signed, dns({}))).status == "permerror"
    bad = {k: b"v=DKIM1; k=rsa; p=AAAA" for k in RECORDS}
    assert (await verify(signed, dns(bad))).status == "permerror"
    other_pem, other_public = new_key(2048)
    other = {k: txt_value(other_public).encode() for k in RECORDS}
    assert (await verify(signed, dns(other))).status == "fail"

    async def failing(name: str) -> bytes | None:
        raise DnsUnavailable("SERVFAIL")

    async def hanging(name: str) -> bytes | None:
        await asyncio.sleep(30)
        return None

    assert (await verify(signed, failing)).status == "temperror"
    assert (await verify(signed, hanging, timeout=0.05)).status == "temperror"


async def test_unsigned_malformed_and_several_signatures() -> None:
    assert await verify(MESSAGE, dns(RECORDS)) == DkimOutcome()
    assert authentication_results(DkimOutcome(), "h") == (
        b"Authentication-Results: h;\r\n\tdkim=none\r\n")
    malformed = b"DKIM-Signature: v=1; a=rsa-sha256; garbage\r\n" + MESSAGE
    outcome = await verify(malformed, dns(RECORDS))
    assert [s.result for s in outcome.signatures] == ["permerror"]
    assert outcome.status == "permerror"
    good = await SIGNER.signed(MESSAGE, DOMAIN)
    both = b"DKIM-Signature: v=1; a=rsa-sha256; garbage\r\n" + good
    outcome = await verify(both, dns(RECORDS))
    assert [s.result for s in outcome.signatures] == ["permerror", "pass"]
    assert outcome.status == "pass"


def test_keygen_record_and_signing_domain() -> None:
    value = txt_value(PUBLIC)
    line = zone_line("mss", DOMAIN, value)
    assert line.startswith(f"mss._domainkey.{DOMAIN}. IN TXT ( \"v=DKIM1; k=rsa; p=")
    strings = line.split("( ", 1)[1].rstrip(" )").split('" "')
    assert all(len(s.strip('"')) <= 255 for s in strings)
    assert "".join(s.strip('"') for s in strings) == value
    assert PEM.startswith(b"-----BEGIN RSA " + b"PRIVATE KEY-----")  # PKCS#1, as dkimpy reads
    assert signing_domain("Dr.A@OP-A.mssante.fr", frozenset({DOMAIN})) == DOMAIN
    assert signing_domain("x@op-b.mssante.fr", frozenset({DOMAIN})) is None
    assert signing_domain("", frozenset({DOMAIN})) is None
